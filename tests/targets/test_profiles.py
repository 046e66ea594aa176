"""Device profiles: the shipped targets/*.yaml validate, lookups, did-you-mean, overrides, make_target."""

from __future__ import annotations

import pytest

from edgecomp.core.errors import ConfigError, UsageError
from edgecomp.targets.profiles import (
    apply_env_overrides,
    apply_overrides,
    available_profiles,
    load_profile,
    make_target,
    parse_profile,
    resolve_target,
)

SHIPPED = ["android-arm64", "host", "rpi-zero2w", "rpi4", "rpi5"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profiles_validate_and_make_their_target(name):
    profile = load_profile(name)
    assert profile.name == name
    target = make_target(profile)
    assert target.name == name and target.kind == profile.kind


def test_shipped_profiles_are_all_listed():
    assert set(SHIPPED) <= set(available_profiles())


def test_a_written_recommendation_is_refused_with_the_reason(tmp_path):
    """No profile measured its recommended_compression (int8 ran slower than float32 on a host of this
    project): recommendations come from measurements, and an old profile's line says so."""
    path = tmp_path / "pi.yaml"
    path.write_text("name: pi\nkind: ssh\nssh:\n  host: pi.local\nrecommended_compression: int8\n")
    with pytest.raises(ConfigError, match=r"recommended_compression is no longer a profile field.*measures.*delete"):
        load_profile(str(path))
    assert all("recommended" not in shipped.read_text() for shipped in available_profiles().values())


def test_unknown_profile_name_suggests_the_closest():
    with pytest.raises(UsageError, match=r"unknown target 'rpi44'\. Did you mean 'rpi4'\?.*Known profiles: .*rpi5"):
        load_profile("rpi44")


def test_unknown_key_is_rejected_with_did_you_mean(tmp_path):
    path = tmp_path / "pi.yaml"
    path.write_text("name: pi\nkind: ssh\nthread: 4\nssh:\n  host: pi.local\n  prot: 2222\n")
    with pytest.raises(ConfigError) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert "thread: unknown key 'thread'; did you mean 'threads'?" in message
    assert "ssh.prot: unknown key 'prot'; did you mean 'port'?" in message


def test_bad_values_and_bad_yaml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs an 'ssh:' section"):
        parse_profile({"name": "x", "kind": "ssh"})
    with pytest.raises(ConfigError, match="delegate 'gpu' is only available"):
        parse_profile({"name": "x", "kind": "ssh", "ssh": {"host": "a"}, "delegate": "gpu"})
    with pytest.raises(ConfigError, match="ssh.host"):
        parse_profile({"name": "x", "kind": "ssh", "ssh": {"host": "-oProxyCommand=touch /tmp/x"}})
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile(str(broken))


def test_targets_dir_from_environment_wins(tmp_path, monkeypatch):
    (tmp_path / "rpi4.yaml").write_text("name: rpi4\nkind: ssh\nssh:\n  host: lab-pi-7\n")
    monkeypatch.setenv("EDGECOMP_TARGETS_DIR", str(tmp_path))
    assert load_profile("rpi4").ssh.host == "lab-pi-7"


def test_overrides_environment_then_flags_are_recorded():
    profile = load_profile("rpi4")
    env = {"EDGECOMP_SSH_HOST": "10.0.0.7", "EDGECOMP_SSH_PORT": "2222", "EDGECOMP_ADB_SERIAL": "ignored"}
    profile = apply_env_overrides(profile, env)
    assert (profile.ssh.host, profile.ssh.port) == ("10.0.0.7", 2222)
    profile = apply_overrides(profile, user="ubuntu", key="~/.ssh/pi_ed25519")
    assert profile.ssh.user == "ubuntu" and profile.ssh.key_file == "~/.ssh/pi_ed25519"
    assert profile.overrides == {"host": "environment", "port": "environment", "user": "flag", "key_file": "flag"}
    assert load_profile("rpi4").ssh.host == "raspberrypi.local"  # the YAML's profile is untouched


def test_flag_for_another_kind_is_an_error_not_ignored():
    with pytest.raises(UsageError, match="only apply to ssh targets"):
        apply_overrides(load_profile("android-arm64"), host="10.0.0.7")
    with pytest.raises(ConfigError, match="EDGECOMP_SSH_PORT"):
        apply_env_overrides(load_profile("rpi5"), {"EDGECOMP_SSH_PORT": "twenty-two"})


def test_resolve_target_applies_serial(monkeypatch):
    monkeypatch.setenv("EDGECOMP_ADB_SERIAL", "emulator-5554")
    target = resolve_target("android-arm64")
    assert target.connection.serial == "emulator-5554" and target.delegate == "xnnpack"
