"""is_emulated: one predicate for reports, artifact rows and target profiles."""

from edgecomp.core.emulation import is_emulated
from edgecomp.targets.profiles import load_profile, make_target


def test_reports_rows_and_profiles():
    assert is_emulated({"target": {"facts": {"emulated": True}}})
    assert is_emulated({"name": "model.tflite", "emulated": True})
    assert not is_emulated({"target": {"facts": {"cpu": "x"}}}) and not is_emulated({}) and not is_emulated(None)
    assert is_emulated(load_profile("rpi4-emulated")) and not is_emulated(load_profile("rpi4"))


def test_an_emulated_profile_makes_an_emulated_target():
    target = make_target(load_profile("rpi4-emulated"))
    assert is_emulated(target) and target.kind == "ssh"
    assert not is_emulated(make_target(load_profile("rpi4")))


def test_only_ssh_profiles_can_be_emulated():
    import pytest

    from edgecomp.core.errors import ConfigError
    from edgecomp.targets.profiles import parse_profile

    with pytest.raises(ConfigError, match="emulated: true is for ssh profiles"):
        parse_profile({"name": "x", "kind": "host", "emulated": True})
