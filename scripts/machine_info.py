#!/usr/bin/python3
# SPDX-License-Identifier: BSL-1.0
"""Prints (as JSON) what Google Benchmark's `context` block lacks: CPU model and topology from lscpu,
memory, virtualisation, kernel, distribution, compiler + version + flags from a CMake build dir,
Google Benchmark's package version, and lfkit's git revision with a dirty flag.

  scripts/machine_info.py [--build-dir build/release]        # JSON on stdout

Used by scripts/bench for results/<run>/machine.json. Standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import re
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, cwd=None):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=20,
                              env=dict(os.environ, LC_ALL="C")).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def lscpu():
    out = {}
    for line in run(["lscpu"]).splitlines():
        k, _, v = line.partition(":")
        if v:
            out[k.strip()] = v.strip()
    return out


def cpu_info():
    l = lscpu()
    info = {
        "model": l.get("Model name") or platform.processor(),
        "vendor": l.get("Vendor ID"),
        "architecture": l.get("Architecture") or platform.machine(),
        "logical_cpus": int(l["CPU(s)"]) if l.get("CPU(s)", "").isdigit() else os.cpu_count(),
        "online_cpus": l.get("On-line CPU(s) list"),
        "sockets": l.get("Socket(s)"),
        "cores_per_socket": l.get("Core(s) per socket"),
        "threads_per_core": l.get("Thread(s) per core"),
        "numa_nodes": l.get("NUMA node(s)"),
        "l1d": l.get("L1d cache") or l.get("L1d"), "l2": l.get("L2 cache") or l.get("L2"),
        "l3": l.get("L3 cache") or l.get("L3"),
        "max_mhz": l.get("CPU max MHz"), "bogomips": l.get("BogoMIPS"),
        "hypervisor": l.get("Hypervisor vendor"),
        "virtualization_type": l.get("Virtualization type"),
        "usable_cpus_for_this_process": len(os.sched_getaffinity(0)),
    }
    try:
        info["physical_cores"] = int(info["sockets"]) * int(info["cores_per_socket"])
    except (TypeError, ValueError):
        info["physical_cores"] = None
    vm = run(["systemd-detect-virt", "--vm"])
    info["virt"] = (info["hypervisor"] or "").lower() or (vm if vm and vm != "none" else "none")
    container = run(["systemd-detect-virt", "--container"])
    if container and container != "none":
        info["container"] = container
    gov = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
    info["scaling_governor"] = open(gov).read().strip() if os.path.exists(gov) else None
    return {k: v for k, v in info.items() if v is not None}


def memory():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    kb = int(line.split()[1])
                    return {"total_bytes": kb * 1024, "total_gib": round(kb / 1048576, 2)}
    except OSError:
        pass
    return {}


def distro():
    d = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                d[k] = v.strip('"')
    except OSError:
        pass
    return d.get("PRETTY_NAME", platform.platform())


def cmake_cache(build_dir):
    cache = {}
    path = os.path.join(build_dir, "CMakeCache.txt")
    if not os.path.exists(path):
        return cache
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_]+):[A-Z]+=(.*)$", line.rstrip("\n"))
            if m:
                cache[m.group(1)] = m.group(2)
    return cache


def compiler(build_dir):
    c = cmake_cache(build_dir)
    cxx = c.get("CMAKE_CXX_COMPILER", "")
    bt = c.get("CMAKE_BUILD_TYPE", "")
    info = {
        "cxx": cxx,
        "version": run([cxx, "--version"]).splitlines()[0] if cxx else "",
        "build_type": bt,
        "CMAKE_CXX_FLAGS": c.get("CMAKE_CXX_FLAGS", ""),
        f"CMAKE_CXX_FLAGS_{bt.upper()}" if bt else "CMAKE_CXX_FLAGS_<TYPE>":
            c.get(f"CMAKE_CXX_FLAGS_{bt.upper()}", ""),
        "CMAKE_EXE_LINKER_FLAGS": c.get("CMAKE_EXE_LINKER_FLAGS", ""),
        "cmake": run(["cmake", "--version"]).splitlines()[0] if run(["cmake", "--version"]) else "",
        "build_dir": os.path.abspath(build_dir),
    }
    # The exact compile line CMake uses for each benchmark target.
    flags = {}
    bench_cmake = os.path.join(build_dir, "bench", "CMakeFiles")
    if os.path.isdir(bench_cmake):
        for d in sorted(os.listdir(bench_cmake)):
            fm = os.path.join(bench_cmake, d, "flags.make")
            if d.endswith(".dir") and os.path.exists(fm):
                with open(fm) as f:
                    for line in f:
                        if line.startswith("CXX_FLAGS") or line.startswith("CXX_DEFINES"):
                            k, _, v = line.partition("=")
                            flags.setdefault(d[:-4], {})[k.strip()] = v.strip()
    if flags:
        info["target_flags"] = flags
    return info


def git_info():
    rev = run(["git", "rev-parse", "HEAD"], cwd=REPO)
    if not rev:
        return {"revision": None}
    changed = run(["git", "status", "--porcelain", "--untracked-files=all", "--", ".",
                   ":(exclude)results", ":(exclude)build"], cwd=REPO).splitlines()
    return {
        "revision": rev,
        "describe": run(["git", "describe", "--always", "--dirty", "--tags"], cwd=REPO),
        "subject": run(["git", "log", "-1", "--format=%s"], cwd=REPO),
        "commit_date": run(["git", "log", "-1", "--format=%cI"], cwd=REPO),
        "dirty": bool(changed),
        "changed_files": [l[3:] for l in changed][:50],
    }


def packages():
    out = {}
    for p in ("libbenchmark-dev", "libcds-dev", "libtbb-dev", "libboost-dev", "libconcurrentqueue-dev",
              "liburcu-dev", "g++", "clang"):
        v = run(["dpkg-query", "-W", "-f=${Version}", p])
        if v:
            out[p] = v
    return out


def collect(build_dir):
    u = platform.uname()
    return {
        "host": socket.gethostname(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_info(),
        "memory": memory(),
        "kernel": f"{u.system} {u.release} {u.version}",
        "distro": distro(),
        "compiler": compiler(build_dir),
        "packages": packages(),
        "lfkit_git": git_info(),
        "load_avg": list(os.getloadavg()),
    }


def label(info):
    """A short machine label: 'AMD EPYC, 2 CPUs (KVM guest), 7.7 GiB, Debian ...'."""
    c = info.get("cpu", {})
    virt = c.get("virt")
    guest = f" ({virt.upper() if virt in ('kvm', 'xen') else virt} guest)" if virt and virt != "none" else ""
    mem = info.get("memory", {}).get("total_gib")
    return (f"{c.get('model', '?')}, {c.get('logical_cpus', '?')} CPUs{guest}"
            + (f", {mem} GiB" if mem else "") + f", {info.get('distro', '')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"))
    a = ap.parse_args()
    info = collect(a.build_dir)
    info["label"] = label(info)
    json.dump(info, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
