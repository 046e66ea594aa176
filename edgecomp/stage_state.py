"""A run's state after each stage, saved into the stage cache (`edgecomp.stage_cache`) and restored,
so a build, or a search trial, continues from the last finished stage of the same chain.

What a stage leaves for the next stage and for export is `RunContext.model`, `ptq_modes`,
`export_inputs` and `warnings`. An entry holds the model as a `.keras` file, or names the entry that
already holds that very model object (`quantize` leaves the model as it was; `qat` keeps the pre-QAT
model for export; `original_model` is the train stage's), the rest as JSON, with the stage records
so far. A state that cannot be saved faithfully (a Keras 3 model, a model no entry holds, a field
this module does not know, a model that does not reload to the same outputs) is not cached, and
the stage record says why. Models load with Keras' safe mode on; nothing is pickled.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from datetime import datetime, timezone
from typing import Optional

from edgecomp.errors import first_line
from edgecomp.progress import step
from edgecomp.records import RunWarning
from edgecomp.stage_cache import ENTRY_FILE, chain_keys, discard, entry_dir, publish, read_entry

# Everything a RunContext / ExportInputs holds; a field added there and not here is not cached
# (a test checks the lists match, so a new field is a decision, not a silent loss).
KNOWN_CONTEXT_FIELDS = frozenset({"plan", "data", "run_dir", "model", "ptq_modes", "export_inputs", "warnings"})
MODEL_INPUTS = ("original_model", "float_model")
VALUE_INPUTS = ("pruned", "calibration_samples", "debug_drop_points", "debug_top_layers", "float_fallback_layers")
MODEL_FILE = "model.keras"
# A QAT model does not survive a `.keras` round trip in tfmot 0.8 (its QuantizeLayer expects 5
# variables and finds 3 on load), so it is rebuilt from its float model, which has an entry,
# with the stage's own build_qat_model, and its trained weights (no code) are loaded into it.
QAT_WEIGHTS_FILE = "qat.weights.h5"
_CHECK_IMAGES = 32
_RUN_ONLY_RECORD_KEYS = ("cached", "cache_key", "cache_write_seconds")  # set by the run that reads or writes  # training images a saved model must reproduce its outputs on


class NotCacheable(Exception):
    """This stage's state cannot be saved faithfully; the message says why (for the stage record)."""


class DamagedEntry(Exception):
    def __init__(self, key: str, reason: str):
        super().__init__(reason)
        self.key, self.reason = key, reason


def load_cached_model(path):
    """A model from a cache entry: tf-keras, safe mode on, inside tfmot's quantize scope (QAT wrappers)."""
    from edgecomp.compress.qat import qat_custom_objects
    from edgecomp.tfenv import keras, tfmot

    with tfmot().quantization.keras.quantize_scope(qat_custom_objects()):
        return keras().models.load_model(path, compile=False, safe_mode=True)


def is_qat_model(model) -> bool:
    return any(type(layer).__name__ in ("QuantizeLayer", "QuantizeWrapper", "QuantizeWrapperV2")
               for layer in model.layers)


def rebuild_qat_model(float_model, prune_preserving: bool, weights_path):
    """The QAT model of `float_model`, built as the qat stage builds it, with saved weights loaded."""
    from edgecomp.compress.qat import build_qat_model

    qat_model, _ = build_qat_model(float_model, prune_preserving)
    qat_model.load_weights(weights_path)
    return qat_model


def holds_model(key: str) -> bool:
    folder = entry_dir(key)
    return (folder / MODEL_FILE).is_file() or (folder / QAT_WEIGHTS_FILE).is_file()


def max_output_difference(model, other, images) -> float:
    """max |model(images) - other(images)| over every output; inf when the outputs' shapes differ."""
    import numpy as np

    from edgecomp.tfenv import tf

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
        self._model_keys: dict[int, str] = {}  # id(model) -> key of the entry whose model.keras it is
        self._alive: list = []  # the models behind _model_keys, kept so their ids are never reused

    def _remember(self, model, key: str) -> None:
        self._model_keys[id(model)] = key
        self._alive.append(model)

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
            if facts and all(holds_model(k) for k in facts["models"].values() if k):
                return index
        return 0

    def _restore(self, ctx, index: int) -> list[dict]:
        key = self.keys[index - 1]
        facts = read_entry(key)
        if facts is None:
            raise DamagedEntry(key, "removed while reading")
        loaded: dict[str, object] = {}

        def model_of(entry_key: Optional[str]):
            if entry_key is None:
                return None
            if entry_key not in loaded:
                folder = entry_dir(entry_key)
                rebuild = (read_entry(entry_key) or {}).get("qat_rebuild")
                float_model = model_of(rebuild["float_model"]) if rebuild else None
                try:
                    loaded[entry_key] = (
                        rebuild_qat_model(float_model, rebuild["prune_preserving"], folder / QAT_WEIGHTS_FILE)
                        if rebuild else load_cached_model(folder / MODEL_FILE))
                except Exception as err:  # noqa: BLE001 - any load failure means the same: the file is unusable
                    raise DamagedEntry(entry_key, first_line(err, 200)) from err
            return loaded[entry_key]

        ctx.model = model_of(facts["models"]["model"])
        for name in MODEL_INPUTS:
            setattr(ctx.export_inputs, name, model_of(facts["models"].get(name)))
        for name in VALUE_INPUTS:
            setattr(ctx.export_inputs, name, facts["export_inputs"][name])
        ctx.ptq_modes = list(facts["ptq_modes"])
        for entry_key, model in loaded.items():
            self._remember(model, entry_key)
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
            own_model = facts["models"]["model"] == key
            published = publish(key, lambda folder: self._write(folder, ctx, facts, own_model))
        except NotCacheable as err:
            record["cache_skipped"] = str(err)
            return
        holder = facts["models"]["model"] if published else (read_entry(key) or facts)["models"]["model"]
        self._remember(ctx.model, holder)
        record["cache_key"] = key
        record["cache_write_seconds"] = round(time.perf_counter() - started, 3)

    def _facts(self, ctx, key: str, records: list[dict]) -> dict:
        from edgecomp.tfenv import keras

        unknown = sorted({f.name for f in fields(ctx)} - KNOWN_CONTEXT_FIELDS
                         | {f.name for f in fields(ctx.export_inputs)} - set(MODEL_INPUTS) - set(VALUE_INPUTS))
        if unknown:
            raise NotCacheable(f"the run state has field(s) the stage cache does not save: {', '.join(unknown)}")
        if not isinstance(ctx.model, keras().Model):
            raise NotCacheable(f"the model is not a tf-keras model ({type(ctx.model).__name__}): it would not "
                               "reload as the same object")
        models = {"model": self._model_keys.get(id(ctx.model), key)}
        for name in MODEL_INPUTS:
            model = getattr(ctx.export_inputs, name)
            if model is None or model is ctx.model:
                models[name] = None if model is None else models["model"]
            elif id(model) in self._model_keys:
                models[name] = self._model_keys[id(model)]
            else:
                raise NotCacheable(f"export_inputs.{name} holds a model that no cache entry holds")
        if models["model"] == key and is_qat_model(ctx.model):
            if models["float_model"] is None or models["float_model"] == key:
                raise NotCacheable("a QAT model is saved as weights on its float model, which no cache entry holds")
            scheme = (records[-1].get("info") or {}).get("scheme")
            qat_rebuild = {"float_model": models["float_model"], "prune_preserving": scheme == "prune_preserving"}
        else:
            qat_rebuild = None
        facts = {
            "key": key, "stage": records[-1]["stage"], "index": len(records), "model": ctx.plan.model,
            "plan_name": ctx.plan.name, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "models": models, "qat_rebuild": qat_rebuild, "export_inputs": {name: getattr(ctx.export_inputs, name) for name in VALUE_INPUTS},
            "ptq_modes": list(ctx.ptq_modes), "warnings": [w.to_dict() for w in ctx.warnings],
            "records": [{k: v for k, v in r.items() if k not in _RUN_ONLY_RECORD_KEYS} for r in records],
        }
        try:
            json.dumps(facts, default=_plain)
        except TypeError as err:
            raise NotCacheable(f"the stage record is not JSON ({err})") from err
        return facts

    @staticmethod
    def _write(folder, ctx, facts: dict, own_model: bool) -> None:
        if own_model:
            try:
                if facts["qat_rebuild"]:
                    ctx.model.save_weights(folder / QAT_WEIGHTS_FILE)
                    reloaded = rebuild_qat_model(ctx.export_inputs.float_model,
                                                 facts["qat_rebuild"]["prune_preserving"], folder / QAT_WEIGHTS_FILE)
                else:
                    ctx.model.save(folder / MODEL_FILE)
                    reloaded = load_cached_model(folder / MODEL_FILE)
            except Exception as err:  # noqa: BLE001 - Keras raises many types; each means "cannot round-trip"
                raise NotCacheable(f"the model does not save and reload: {first_line(err, 200)}") from err
            images = ctx.data.images("train", _CHECK_IMAGES)
            difference = max_output_difference(ctx.model, reloaded, images)
            if not difference <= 1e-5:
                raise NotCacheable(f"the model reloaded from the cache gives other outputs (max |diff| "
                                   f"{difference:.3g} on {len(images)} training images)")
        (folder / ENTRY_FILE).write_text(json.dumps(facts, indent=1, default=_plain))


def _plain(value):
    """numpy scalars and arrays in a stage record, as JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
