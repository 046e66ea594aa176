"""A run's state after each stage, saved into the stage cache (`edgecomp.run.stage_cache`) and restored,
so a build, or a search trial, continues from the last finished stage of the same chain.

What a stage leaves for the next stage and for export is `RunContext.model`, `ptq_modes`,
`export_inputs` and `warnings`. Each model slot (`model`, `original_model`, `float_model`) is a
reference `[entry key, file]`: a file in this entry (`model.keras`, `original_model.keras`...), or
in the entry that already holds that very model with the same weights (`quantize` leaves the model
as it was; `qat` keeps the pre-QAT model for export; `original_model` is the train stage's). The
rest is JSON, with the stage records so far. A state that cannot be saved faithfully (a Keras 3
model, a field this module does not know, a model that does not reload to the same outputs) is
not cached, and the stage record says why. Models load with Keras' safe mode on; nothing is pickled.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from datetime import datetime, timezone
from typing import Optional

from edgecomp.compress.qat import build_qat_model, qat_custom_objects
from edgecomp.core.cache_store import ENTRY_FILE, discard, entry_dir, model_fingerprint, publish, read_entry
from edgecomp.core.errors import first_line
from edgecomp.core.progress import step
from edgecomp.core.records import ExportInputs, RunWarning
from edgecomp.core.tfenv import keras, tf, tfmot
from edgecomp.run.stage_cache import chain_keys

# Everything a RunContext / ExportInputs holds; a field added there and not here is not cached
# (a test checks the lists match, so a new field is a decision, not a silent loss).
KNOWN_CONTEXT_FIELDS = frozenset({"plan", "data", "run_dir", "model", "ptq_modes", "export_inputs", "warnings"})
MODEL_INPUTS = ("original_model", "float_model")
VALUE_INPUTS = ("pruned", "calibration_samples", "debug_drop_points", "debug_top_layers", "float_fallback_layers",
                "output_activation")
MODEL_SLOTS = ("model", *MODEL_INPUTS)  # `model` first: the others often name the same object
# A QAT model does not survive a `.keras` round trip in tfmot 0.8 (its QuantizeLayer expects 5
# variables and finds 3 on load), so it is rebuilt from its float model, which has an entry,
# with the stage's own build_qat_model, and its trained weights (no code) are loaded into it.
QAT_WEIGHTS_SUFFIX = ".qat.weights.h5"
_CHECK_IMAGES = 32  # training images a saved model must reproduce its outputs on
_RUN_ONLY_RECORD_KEYS = ("cached", "cache_key", "cache_write_seconds")  # set by the run that reads or writes


class NotCacheable(Exception):
    """This stage's state cannot be saved faithfully; the message says why (for the stage record)."""

class DamagedEntry(Exception):
    """An entry whose files do not load (cut short, removed meanwhile): it is discarded and its stage re-run."""

    def __init__(self, key: str, reason: str):
        super().__init__(reason)
        self.key, self.reason = key, reason

def load_cached_model(path):
    """A model from a cache entry: tf-keras, safe mode on, inside tfmot's quantize scope (QAT wrappers)."""

    with tfmot().quantization.keras.quantize_scope(qat_custom_objects()):
        return keras().models.load_model(path, compile=False, safe_mode=True)

def slot_model(ctx, name: str):
    """The model in a slot: `ctx.model` for "model", else that `ctx.export_inputs` field."""
    return ctx.model if name == "model" else getattr(ctx.export_inputs, name)

def is_qat_model(model) -> bool:
    return any(type(layer).__name__ in ("QuantizeLayer", "QuantizeWrapper", "QuantizeWrapperV2")
               for layer in model.layers)

def rebuild_qat_model(float_model, prune_preserving: bool, weights_path):
    """The QAT model of `float_model`, built as the qat stage builds it, with saved weights loaded."""

    qat_model, _ = build_qat_model(float_model, prune_preserving)
    qat_model.load_weights(weights_path)
    return qat_model

def holds_model(ref) -> bool:
    return (entry_dir(ref[0]) / ref[1]).is_file()

def max_output_difference(model, other, images) -> float:
    """max |model(images) - other(images)| over every output; inf when the outputs' shapes differ."""
    import numpy as np

    ours = [np.asarray(t) for t in tf().nest.flatten(model(images, training=False))]
    theirs = [np.asarray(t) for t in tf().nest.flatten(other(images, training=False))]
    if [a.shape for a in ours] != [b.shape for b in theirs]:
        return float("inf")
    return max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs))

def _finished_label(iso: Optional[str]) -> str:
    if not iso:
        return "earlier"
    local = datetime.fromisoformat(iso).astimezone()
    return local.strftime("%H:%M" if local.date() == datetime.now().date() else "%Y-%m-%d %H:%M")

class StageCache:
    """One run's use of the stage cache: its chain of keys and which entry holds which model object."""

    def __init__(self, plan, data, enabled: bool = True):
        self.names = [cfg.stage for cfg in plan.stages]
        off = [i for i, cfg in enumerate(plan.stages, start=1) if getattr(cfg, "cache", True) is False]
        if not enabled:
            self.usable, self.off_reason = 0, "cache turned off (--no-cache)"
        else:
            # A stage with `cache: false` runs every time, and so does every stage after it (they take its output).
            self.usable = off[0] - 1 if off else len(self.names)
            self.off_reason = f"stage {off[0]} ({self.names[off[0] - 1]}) has cache: false" if off else ""
        self.keys: list[Optional[str]] = chain_keys(plan, data) if self.usable else [None] * len(self.names)
        # id(model) -> ([entry key, file] holding it, its weights' fingerprint then). A stage may train
        # a model in place (dlb, byot): the same object with other weights is not that entry's model.
        self._model_refs: dict[int, tuple[list, str]] = {}
        self._alive: list = []  # the models behind _model_refs, kept so their ids are never reused

    def _remember(self, model, ref: list) -> None:
        self._model_refs[id(model)] = (list(ref), model_fingerprint(model))
        self._alive.append(model)

    def _ref_holding(self, model) -> Optional[list]:
        """[entry key, file] holding this model object with its current weights, or None."""
        known = self._model_refs.get(id(model))
        return known[0] if known and model_fingerprint(model) == known[1] else None

    # ---- restore ---------------------------------------------------------------------------------

    def resume(self, ctx) -> list[dict]:
        """Restores the state after the last stage with a usable entry; returns the records up to it."""
        while True:
            index = self._last_restorable()
            if index == 0:
                return []
            try:
                return self._restore(ctx, index)
            except DamagedEntry as err:  # a damaged entry costs re-running its stage, not the build
                step(f"cache entry {err.key[:12]} unusable ({err.reason}); removed, its stage runs again")
                discard(err.key)

    def _last_restorable(self) -> int:
        for index in range(self.usable, 0, -1):
            facts = read_entry(self.keys[index - 1])
            if facts and all(holds_model(ref) for ref in facts["models"].values() if ref):
                return index
        return 0

    def _restore(self, ctx, index: int) -> list[dict]:
        key = self.keys[index - 1]
        facts = read_entry(key)
        if facts is None:
            raise DamagedEntry(key, "removed while reading")
        loaded: dict[tuple, object] = {}

        def model_of(ref):
            if ref is None:
                return None
            ref = tuple(ref)
            if ref not in loaded:
                path = entry_dir(ref[0]) / ref[1]
                rebuild = ((read_entry(ref[0]) or {}).get("qat_rebuild") or {}).get(ref[1])
                float_model = model_of(rebuild["float_model"]) if rebuild else None
                try:
                    loaded[ref] = (rebuild_qat_model(float_model, rebuild["prune_preserving"], path) if rebuild
                                   else load_cached_model(path))
                except Exception as err:  # noqa: BLE001 - any load failure means the same: the file is unusable
                    raise DamagedEntry(ref[0], first_line(err, 200)) from err
            return loaded[ref]

        ctx.model = model_of(facts["models"]["model"])
        for name in MODEL_INPUTS:
            setattr(ctx.export_inputs, name, model_of(facts["models"].get(name)))
        for name in VALUE_INPUTS:  # an entry older than a field holds its default
            setattr(ctx.export_inputs, name, facts["export_inputs"].get(name, getattr(ExportInputs(), name)))
        ctx.ptq_modes = list(facts["ptq_modes"])
        for ref, model in loaded.items():
            self._remember(model, list(ref))
        records = []
        for position, stored in enumerate(facts["records"], start=1):
            records.append({**stored, "cached": True, "cache_key": self.keys[position - 1]})
            step(f"stage {position}/{len(self.names)}: {stored['stage']} — reused from cache (finished "
                 f"{_finished_label(stored.get('finished'))}, key {self.keys[position - 1][:12]})")
        for warning in facts["warnings"]:
            ctx.warn(RunWarning(**warning))
        return records

    # ---- save ------------------------------------------------------------------------------------

    def save(self, ctx, records: list[dict]) -> None:
        """Saves the state after the stage whose record is `records[-1]`; notes the outcome in that record."""
        index, record = len(records), records[-1]
        record["cached"] = False
        if index > self.usable:
            record["cache_skipped"] = self.off_reason
            return
        key = self.keys[index - 1]
        started = time.perf_counter()
        try:
            facts = self._facts(ctx, key, records)
            published = publish(key, lambda folder: self._write(folder, ctx, facts))
        except NotCacheable as err:
            record["cache_skipped"] = str(err)
            return
        except OSError as err:  # a full or read-only cache costs the reuse, never the run
            record["cache_skipped"] = f"the stage cache could not be written: {err}"
            step(f"stage cache not written ({err}); the run goes on without it")
            return
        refs = facts["models"] if published else (read_entry(key) or facts)["models"]  # the kept entry's
        for name in MODEL_SLOTS:
            model = slot_model(ctx, name)
            if model is not None and refs.get(name):
                self._remember(model, refs[name])
        record["cache_key"] = key
        record["cache_write_seconds"] = round(time.perf_counter() - started, 3)

    def _facts(self, ctx, key: str, records: list[dict]) -> dict:
        unknown = sorted({f.name for f in fields(ctx)} - KNOWN_CONTEXT_FIELDS
                         | {f.name for f in fields(ctx.export_inputs)} - set(MODEL_INPUTS) - set(VALUE_INPUTS))
        if unknown:
            raise NotCacheable(f"the run state has field(s) the stage cache does not save: {', '.join(unknown)}")
        models, qat_rebuild = self._slot_refs(ctx, key, records[-1])
        facts = {
            "key": key, "stage": records[-1]["stage"], "index": len(records), "model": ctx.plan.model,
            "plan_name": ctx.plan.name, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "models": models, "qat_rebuild": qat_rebuild,
            "export_inputs": {name: getattr(ctx.export_inputs, name) for name in VALUE_INPUTS},
            "ptq_modes": list(ctx.ptq_modes), "warnings": [w.to_dict() for w in ctx.warnings],
            "records": [{k: v for k, v in r.items() if k not in _RUN_ONLY_RECORD_KEYS} for r in records],
        }
        try:
            json.dumps(facts, default=_plain)
        except TypeError as err:
            raise NotCacheable(f"the stage record is not JSON ({err})") from err
        return facts

    def _slot_refs(self, ctx, key: str, record: dict) -> tuple[dict, dict]:
        """{slot: [entry key, file] or None} and {file: how to rebuild it} for the state after a stage."""
        from edgecomp.core.tfenv import keras

        models, qat_rebuild = {}, {}
        for position, name in enumerate(MODEL_SLOTS):
            model = slot_model(ctx, name)
            same = next((other for other in MODEL_SLOTS[:position]
                         if models[other] and model is slot_model(ctx, other)), None)
            if model is None or same:
                models[name] = models[same] if same else None
            elif not isinstance(model, keras().Model):
                raise NotCacheable(f"{name} is not a tf-keras model ({type(model).__name__}): it would not "
                                   "reload as the same object")
            else:
                models[name] = self._ref_holding(model) or [key, f"{name}.keras"]
        if models["model"][0] == key and is_qat_model(ctx.model):
            float_ref = models["float_model"]
            if float_ref is None or float_ref == models["model"]:
                raise NotCacheable("a QAT model is saved as weights on its float model, and there is none")
            scheme = (record.get("info") or {}).get("scheme")
            plain_ref, models["model"] = models["model"], [key, "model" + QAT_WEIGHTS_SUFFIX]
            models.update({name: models["model"] for name in MODEL_INPUTS if models[name] == plain_ref})
            qat_rebuild[models["model"][1]] = {"float_model": float_ref,
                                               "prune_preserving": scheme == "prune_preserving"}
        return models, qat_rebuild

    @staticmethod
    def _write(folder, ctx, facts: dict) -> None:
        """Saves the models this entry holds, each checked to reload with the same outputs, then entry.json."""
        images = ctx.data.images("train", _CHECK_IMAGES)
        saved = set()
        for name in MODEL_SLOTS:
            ref = facts["models"][name]
            if ref is None or ref[0] != facts["key"] or ref[1] in saved:
                continue
            model, path = slot_model(ctx, name), folder / ref[1]
            rebuild = facts["qat_rebuild"].get(ref[1])
            try:
                if rebuild:
                    model.save_weights(path)
                    reloaded = rebuild_qat_model(ctx.export_inputs.float_model, rebuild["prune_preserving"], path)
                else:
                    model.save(path)
                    reloaded = load_cached_model(path)
            except Exception as err:  # noqa: BLE001 - Keras raises many types; each means "cannot round-trip"
                raise NotCacheable(f"{name} does not save and reload: {first_line(err, 200)}") from err
            difference = max_output_difference(model, reloaded, images)
            if not difference <= 1e-5:
                raise NotCacheable(f"{name} reloaded from the cache gives other outputs (max |diff| "
                                   f"{difference:.3g} on {len(images)} training images)")
            saved.add(ref[1])
        (folder / ENTRY_FILE).write_text(json.dumps(facts, indent=1, default=_plain))

def _plain(value):
    """numpy scalars and arrays in a stage record, as JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
