"""A run's state after each stage, saved into the stage cache (`edgecomp.run.stage_cache`) and restored,
so a build, or a search trial, continues from the last finished stage of the same chain.

What a stage leaves for the next stage and for export is `RunContext.model`, `ptq_modes`,
`export_inputs` and `warnings`; an entry's entry.json is their typed record
(`edgecomp.run.saved_state.SavedState`). Each model role (`model`, `original_model`, `float_model`)
names a file in this entry (`model.keras`, `original_model.keras`...), or in the entry that already
holds that very model with the same weights (`quantize` leaves the model as it was; `qat` keeps the
pre-QAT model for export; `original_model` is the train stage's): the run remembers, per role, which
file holds the model that role had at the last save or restore. A QAT model is kept as weights with
its recipe (float model, quantize scheme). A state that cannot be saved faithfully (a Keras 3
model, a field this module does not know, a model that does not reload to the same outputs) is
not cached, and the stage record says why. Models load with Keras' safe mode on; nothing is pickled.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Optional

from edgecomp.compress.qat import build_qat_model, qat_custom_objects
from edgecomp.core.cache_store import ENTRY_FILE, discard, entry_dir, model_fingerprint, publish, read_entry
from edgecomp.core.errors import first_line
from edgecomp.core.progress import step
from edgecomp.core.records import QatScheme
from edgecomp.core.tfenv import keras, tf, tfmot
from edgecomp.run.saved_state import ModelRef, QatRecipe, SavedState, UnreadableState
from edgecomp.run.stage_cache import chain_keys

# Everything a RunContext / ExportInputs holds; a field added there and not here is not cached
# (a test checks the lists match, so a new field is a decision, not a silent loss).
KNOWN_CONTEXT_FIELDS = frozenset({"plan", "data", "run_dir", "model", "ptq_modes", "export_inputs", "warnings"})
MODEL_INPUTS = ("original_model", "float_model")
VALUE_INPUTS = ("pruned", "calibration_samples", "debug_drop_points", "debug_top_layers", "float_fallback_layers",
                "quantizer_overrides", "auto_max_drop", "qat_scheme", "output_activation")
MODEL_SLOTS = ("model", *MODEL_INPUTS)  # `model` first: the others often name the same object
# A QAT model is kept as weights only (see edgecomp.run.saved_state.QatRecipe).
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

def rebuild_qat_model(float_model, scheme: QatScheme, weights_path):
    """The QAT model of `float_model`, built as the qat stage builds it with `scheme`, with saved weights loaded."""

    qat_model, _ = build_qat_model(float_model, scheme.prune_preserving)
    qat_model.load_weights(weights_path)
    return qat_model

def holds_model(ref: ModelRef) -> bool:
    return (entry_dir(ref.entry) / ref.file).is_file()

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

@dataclass
class HeldModel:
    """The model a role held at the last save or restore: where it is saved, and its weights then.

    A stage may train a model in place (dlb, byot): the same object with other weights is not the
    saved model any more, so the fingerprint is compared before a saved file is reused.
    """

    model: Any
    ref: ModelRef
    fingerprint: str
    qat: Optional[QatRecipe] = None


class StageCache:
    """One run's use of the stage cache: its chain of keys, and the saved file behind each role's model."""

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
        self._held: dict[str, HeldModel] = {}  # role -> its model as last saved or restored

    def _hold(self, ctx, state: SavedState) -> None:
        """Remembers, per role, the file now holding that role's model (one fingerprint per model)."""
        fingerprints: dict[ModelRef, str] = {}
        self._held = {}
        for role, ref in state.models.items():
            model = slot_model(ctx, role)
            if ref is None or model is None:
                continue
            if ref not in fingerprints:
                fingerprints[ref] = model_fingerprint(model)
            self._held[role] = HeldModel(model, ref, fingerprints[ref], state.qat_recipe(ref))

    def _saved_copy(self, model) -> Optional[HeldModel]:
        """The saved file of this very model object, as long as its weights are still the saved ones."""
        same_object = [held for held in self._held.values() if held.model is model]
        if not same_object:
            return None
        fingerprint = model_fingerprint(model)
        return next((held for held in same_object if held.fingerprint == fingerprint), None)

    # ---- restore ---------------------------------------------------------------------------------

    def resume(self, ctx) -> list[dict]:
        """Restores the state after the last stage with a usable entry; returns the records up to it."""
        while True:
            try:
                index, state = self._last_restorable()
                return self._restore(ctx, state) if index else []
            except DamagedEntry as err:  # a damaged entry costs re-running its stage, not the build
                step(f"cache entry {err.key[:12]} unusable ({err.reason}); removed, its stage runs again")
                discard(err.key)

    def _last_restorable(self) -> tuple[int, Optional[SavedState]]:
        for index in range(self.usable, 0, -1):
            state = read_state(self.keys[index - 1])
            if state and all(holds_model(ref) for ref in state.models.values() if ref):
                return index, state
        return 0, None

    def _restore(self, ctx, state: SavedState) -> list[dict]:
        loaded: dict[ModelRef, Any] = {}

        def model_of(ref: Optional[ModelRef]):
            if ref is None:
                return None
            if ref in loaded:
                return loaded[ref]
            recipe = state.qat_recipe(ref)
            float_model = model_of(recipe.float_model) if recipe else None
            path = entry_dir(ref.entry) / ref.file
            try:
                loaded[ref] = rebuild_qat_model(float_model, recipe.scheme, path) if recipe else load_cached_model(path)
            except Exception as err:  # noqa: BLE001 - any load failure means the same: the file is unusable
                raise DamagedEntry(ref.entry, first_line(err, 200)) from err
            return loaded[ref]

        ctx.model = model_of(state.models["model"])
        for name in MODEL_INPUTS:
            setattr(ctx.export_inputs, name, model_of(state.models.get(name)))
        for name in VALUE_INPUTS:
            setattr(ctx.export_inputs, name, state.export_values[name])
        ctx.ptq_modes = list(state.ptq_modes)
        self._hold(ctx, state)
        records = []
        for position, stored in enumerate(state.records, start=1):
            records.append({**stored, "cached": True, "cache_key": self.keys[position - 1]})
            step(f"stage {position}/{len(self.names)}: {stored['stage']} — reused from cache (finished "
                 f"{_finished_label(stored.get('finished'))}, key {self.keys[position - 1][:12]})")
        for warning in state.warnings:
            ctx.warn(warning)
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
            state = self._state(ctx, key, records)
            published = publish(key, lambda folder: self._write(folder, ctx, state))
        except NotCacheable as err:
            record["cache_skipped"] = str(err)
            return
        except OSError as err:  # a full or read-only cache costs the reuse, never the run
            record["cache_skipped"] = f"the stage cache could not be written: {err}"
            step(f"stage cache not written ({err}); the run goes on without it")
            return
        try:  # another process wrote the same key first: its files are the ones to refer to
            kept = state if published else (read_state(key) or state)
        except DamagedEntry:
            kept = state
        self._hold(ctx, kept)
        record["cache_key"] = key
        record["cache_write_seconds"] = round(time.perf_counter() - started, 3)

    def _state(self, ctx, key: str, records: list[dict]) -> SavedState:
        unknown = sorted({f.name for f in fields(ctx)} - KNOWN_CONTEXT_FIELDS
                         | {f.name for f in fields(ctx.export_inputs)} - set(MODEL_INPUTS) - set(VALUE_INPUTS))
        if unknown:
            raise NotCacheable(f"the run state has field(s) the stage cache does not save: {', '.join(unknown)}")
        models, qat_models = self._model_refs(ctx, key)
        state = SavedState(
            key=key, stage=records[-1]["stage"], index=len(records), model=ctx.plan.model,
            plan_name=ctx.plan.name, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            models=models, qat_models=qat_models,
            export_values={name: getattr(ctx.export_inputs, name) for name in VALUE_INPUTS},
            ptq_modes=list(ctx.ptq_modes), warnings=list(ctx.warnings),
            records=[{k: v for k, v in r.items() if k not in _RUN_ONLY_RECORD_KEYS} for r in records])
        try:
            json.dumps(state.to_json(), default=_plain)
        except TypeError as err:
            raise NotCacheable(f"the stage record is not JSON ({err})") from err
        return state

    def _model_refs(self, ctx, key: str) -> tuple[dict[str, Optional[ModelRef]], list[QatRecipe]]:
        """{role: its file or None} and the QAT recipes among them, for the state after a stage."""
        models: dict[str, Optional[ModelRef]] = {}
        recipes: dict[ModelRef, QatRecipe] = {}
        new_qat_roles = []
        for position, role in enumerate(MODEL_SLOTS):
            model = slot_model(ctx, role)
            same = next((other for other in MODEL_SLOTS[:position]
                         if models[other] and model is slot_model(ctx, other)), None)
            if model is None or same:
                models[role] = models[same] if same else None
            elif not isinstance(model, keras().Model):
                raise NotCacheable(f"{role} is not a tf-keras model ({type(model).__name__}): it would not "
                                   "reload as the same object")
            elif held := self._saved_copy(model):
                models[role] = held.ref
                if held.qat:
                    recipes[held.ref] = held.qat
            elif is_qat_model(model):  # its recipe names the float model, whose file is known after the loop
                new_qat_roles.append(role)
                models[role] = ModelRef(key, role + QAT_WEIGHTS_SUFFIX)
            else:
                models[role] = ModelRef(key, f"{role}.keras")
        for role in new_qat_roles:
            recipes[models[role]] = self._new_qat_recipe(ctx, models, models[role])
        if any(recipe.float_model not in models.values() for recipe in recipes.values()):
            # `edgecomp cache clear` follows `models` to the entries a state needs: it would miss that one.
            raise NotCacheable("a QAT model's float model is no longer in the run state")
        return models, list(recipes.values())

    @staticmethod
    def _new_qat_recipe(ctx, models: dict, weights: ModelRef) -> QatRecipe:
        """A QAT model made by this stage: kept as weights on `float_model`, with the scheme the qat stage used."""
        float_ref = models["float_model"]
        if float_ref is None or float_ref == weights:
            raise NotCacheable("a QAT model is saved as weights on its float model, and there is none")
        if ctx.export_inputs.qat_scheme is None:
            raise NotCacheable("a QAT model whose quantize scheme the run state does not say (ExportInputs.qat_scheme)")
        return QatRecipe(weights=weights, float_model=float_ref, scheme=ctx.export_inputs.qat_scheme)

    @staticmethod
    def _write(folder, ctx, state: SavedState) -> None:
        """Saves the models this entry holds, each checked to reload with the same outputs, then entry.json."""
        images = ctx.data.images("train", _CHECK_IMAGES)
        models: dict[ModelRef, Any] = {}
        for role, ref in state.models.items():
            if ref is not None and ref not in models:
                models[ref] = slot_model(ctx, role)
        for ref, model in models.items():
            if ref.entry != state.key:
                continue
            path, recipe = folder / ref.file, state.qat_recipe(ref)
            try:
                if recipe:
                    model.save_weights(path)
                    reloaded = rebuild_qat_model(models[recipe.float_model], recipe.scheme, path)
                else:
                    model.save(path)
                    reloaded = load_cached_model(path)
            except Exception as err:  # noqa: BLE001 - Keras raises many types; each means "cannot round-trip"
                raise NotCacheable(f"{_role_of(state, ref)} does not save and reload: {first_line(err, 200)}") from err
            difference = max_output_difference(model, reloaded, images)
            if not difference <= 1e-5:
                raise NotCacheable(f"{_role_of(state, ref)} reloaded from the cache gives other outputs (max |diff| "
                                   f"{difference:.3g} on {len(images)} training images)")
        (folder / ENTRY_FILE).write_text(json.dumps(state.to_json(), indent=1, default=_plain))

def read_state(key: str) -> Optional[SavedState]:
    """The saved state in entry `key`, or None when there is no finished entry.

    Raises:
        DamagedEntry: the entry's entry.json is not a saved state.
    """
    facts = read_entry(key)
    if facts is None:
        return None
    try:
        return SavedState.from_json(facts)
    except UnreadableState as err:
        raise DamagedEntry(key, str(err)) from err

def _role_of(state: SavedState, ref: ModelRef) -> str:
    return next(role for role, other in state.models.items() if other == ref)

def _plain(value):
    """numpy scalars and arrays in a stage record, as JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
