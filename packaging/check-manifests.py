#!/usr/bin/env python3
"""Validates packaging/container/Dockerfile and packaging/kubernetes/*.yaml without a Docker
engine or a cluster: the Dockerfile through BuildKit's own parser (the `dockerfile` package),
the manifests against Kubernetes' JSON schemas (`kubernetes-validate --strict`), and both
against the promises the README makes (multi-stage, non-root, token from a Secret, a volume)."""

import pathlib
import subprocess
import sys

import dockerfile
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def container():
    path = ROOT / "packaging/container/Dockerfile"
    commands = dockerfile.parse_file(str(path))
    stages = [c for c in commands if c.cmd == "FROM"]
    check(len(stages) >= 2, f"{path.name}: multi-stage ({len(stages)} stages)")
    names = {c.value[2] for c in stages if len(c.value) == 3 and c.value[1].upper() == "AS"}
    final = [c for c in commands if c.start_line > stages[-1].start_line]
    users = [c.value[0] for c in final if c.cmd == "USER"]
    check(bool(users) and users[-1].split(":")[0] not in ("0", "root"),
          f"{path.name}: the runtime stage runs as a non-root user ({users[-1:] or 'none'})")
    for c in commands:
        if c.cmd not in ("COPY", "ADD"):
            continue
        sources = c.value[:-1]
        origin = [f for f in c.flags if f.startswith("--from=")]
        if origin:
            stage = origin[0].split("=", 1)[1]
            check(stage in names, f"{path.name}:{c.start_line}: COPY --from={stage} names a stage")
        else:
            for source in sources:
                exists = source == "." or (ROOT / source).exists()
                check(exists, f"{path.name}:{c.start_line}: {source} exists in the build context")
    entry = [c for c in final if c.cmd == "ENTRYPOINT"]
    check(bool(entry) and entry[-1].json, f"{path.name}: exec-form ENTRYPOINT")
    ignore = (ROOT / ".dockerignore").read_text().split()
    check("target" in ignore, ".dockerignore keeps target/ out of the build context")


def kubernetes():
    files = sorted((ROOT / "packaging/kubernetes").glob("*.yaml"))
    manifests = [f for f in files if f.name != "kustomization.yaml"]
    result = subprocess.run(["kubernetes-validate", "--strict", "--quiet", *map(str, manifests)],
                            capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    check(result.returncode == 0, "kubernetes-validate --strict: " + (output or "every manifest valid"))
    docs = {}
    for f in manifests:
        for doc in yaml.safe_load_all(f.read_text()):
            if doc:
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    listed = yaml.safe_load((ROOT / "packaging/kubernetes/kustomization.yaml").read_text())
    for resource in listed["resources"]:
        check((ROOT / "packaging/kubernetes" / resource).exists(), f"kustomization lists {resource}")

    daemonset = docs.get(("DaemonSet", "drover-agent"))
    check(daemonset is not None, "the agent is a DaemonSet")
    if daemonset:
        pod = daemonset["spec"]["template"]["spec"]
        refs = [e["valueFrom"]["secretKeyRef"]["name"]
                for c in pod.get("initContainers", []) + pod["containers"]
                for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
        check(refs == ["drover-join-token"], "the agent joins with a token from the drover-join-token Secret")
        agent = pod["containers"][0]
        check(agent["securityContext"].get("runAsNonRoot") is True, "the agent container runs as non-root")
        check(pod["terminationGracePeriodSeconds"] > 60, "the agent gets more than its 60s drain grace")

    statefulset = docs.get(("StatefulSet", "drover-coordinator"))
    check(statefulset is not None, "the coordinator is a StatefulSet")
    if statefulset:
        spec = statefulset["spec"]
        claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
        mounts = [m["name"] for m in spec["template"]["spec"]["containers"][0]["volumeMounts"]
                  if m["mountPath"] == "/var/lib/drover"]
        check(claims == ["data"] and mounts == ["data"], "the coordinator keeps its data dir on a volume")
        check(spec["template"]["spec"]["securityContext"].get("runAsNonRoot") is True,
              "the coordinator runs as non-root")
        check(spec["serviceName"] in {name for kind, name in docs if kind == "Service"},
              "the StatefulSet's service exists")


container()
kubernetes()
if failures:
    sys.exit(f"{len(failures)} packaging check(s) failed")
