"""The image's files agree with each other and with what they say (docs/deploy.md): the
Kubernetes manifest's soak config is one orch accepts, its command line parses, it runs as the
image's user and mounts the image's volumes, each pod's hostname is its node's (one history
series per host); the Containerfile pins the chatllm.cpp commit docs/real-scale.md measured."""

import re

import pytest
import tomllib
from orchestrator.commands import soak as soak_command
from orchestrator.studies import soak

from conftest import REPO

yaml = pytest.importorskip("yaml", reason="PyYAML (the test extra) reads the Kubernetes manifest")

CONTAINERFILE = (REPO / "Containerfile").read_text()
MANIFEST = list(yaml.safe_load_all((REPO / "deploy" / "k8s" / "orch-soak.yaml").read_text()))


def _kind(kind):
    return [d for d in MANIFEST if d["kind"] == kind]


def _pod():
    (cron,) = _kind("CronJob")
    return cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_the_soak_config_in_the_manifest_is_one_orch_accepts():
    (config_map,) = _kind("ConfigMap")
    cfg = tomllib.loads(config_map["data"]["nightly.toml"])
    assert soak.validate_config(cfg) == []
    assert [c["name"] for c in soak.expand_cells(cfg)] == ["asr-0.6b", "calibration"]


def test_the_cronjob_runs_a_command_orch_parses_from_the_config_map():
    pod = _pod()
    (container,) = pod["containers"]
    args = container["args"]
    assert args[0] == "soak"
    ctx = soak_command.soak.make_context("soak", list(args[1:]))
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    (config_map,) = _kind("ConfigMap")
    assert ctx.params["config_path"] == f"{mounts['config']}/{next(iter(config_map['data']))}"
    assert {e["name"] for e in container["env"]} == {"ORCH_DB", "ORCH_IMAGE_DIGEST"}


def test_one_series_per_host_and_one_soak_at_a_time():
    (cron,) = _kind("CronJob")
    pod = _pod()
    assert pod["hostname"] == pod["nodeSelector"]["kubernetes.io/hostname"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0


def test_the_pod_runs_as_the_image_user_with_the_image_volumes():
    user = re.search(r"^USER (\d+):(\d+)$", CONTAINERFILE, re.M)
    assert user and re.search(rf"useradd --uid {user[1]} ", CONTAINERFILE)
    security = _pod()["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"]) == (int(user[1]), int(user[2]))
    volumes = re.search(r"^VOLUME \[(.*)\]$", CONTAINERFILE, re.M)[1]
    image_volumes = {v.strip().strip('"') for v in volumes.split(",")}
    assert image_volumes == {"/models", "/results", "/var/lib/orch"}
    mounts = {m["mountPath"] for m in _pod()["containers"][0]["volumeMounts"]}
    assert {"/models", "/results"} <= mounts  # the history is PostgreSQL here, not /var/lib/orch
    (config_map,) = _kind("ConfigMap")
    assert tomllib.loads(config_map["data"]["nightly.toml"])["out"].startswith("/results/")


def test_the_image_pins_the_commit_the_study_measured():
    pinned = set(re.findall(r"^ARG CHATLLM_COMMIT=([0-9a-f]{40})$", CONTAINERFILE, re.M))
    assert len(pinned) == 1  # every stage that declares it, the same
    measured = re.search(r"chatllm\.cpp `([0-9a-f]{12})` built twice", (REPO / "docs" / "real-scale.md").read_text())
    assert measured and pinned.pop().startswith(measured[1])
