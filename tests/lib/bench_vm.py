"""The guest benchmarks' common part (tests/bench/boot, blk, net): the test guest
booted once under mica-vmm and once under QEMU with the same kernel, initramfs, command
line, CPUs, memory and virtio devices on PCI, its `MICA-BENCH: NAME VALUE UNIT` console
lines collected, and the two side by side with the ratio."""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

import mica_guest


def arguments(description):
    """The options every guest benchmark takes: --runs, --cpus, --memory (MiB)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--memory", type=int, default=512, help="MiB")
    return parser


def mica_command(cpus, mem_mb, words, devices):
    """mica-vmm booting the test guest with `words` on its command line, plus `devices`
    (mica-vmm options such as ["--disk", "path=..."])."""
    return [os.path.join(mica_guest.BUILD, "vmm", "mica-vmm"), "--kernel", mica_guest.VMLINUZ,
            "--initramfs", mica_guest.INITRAMFS, "--cmdline", mica_guest.cmdline(words),
            "--cpus", f"boot={cpus}", "--memory", f"size={mem_mb}M"] + devices


def qemu_command(cpus, mem_mb, words, devices, machine="microvm,pcie=on,rtc=on"):
    """QEMU's microvm machine, by default with a PCIe host bridge (so its virtio devices
    sit on PCI, as ours do), KVM, the same guest; `devices` are QEMU options."""
    return ["qemu-system-x86_64", "-M", machine, "-accel", "kvm", "-cpu", "host",
            "-smp", str(cpus), "-m", str(mem_mb), "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", "stdio", "-no-reboot", "-kernel", mica_guest.VMLINUZ, "-initrd", mica_guest.INITRAMFS,
            "-append", mica_guest.cmdline(words)] + devices


def run_guest(argv, scenario, prefix=()):
    """Boots argv (run under `prefix`, such as `ip netns exec NS`) to its end; returns
    {name: (value, unit)} from its MICA-BENCH lines. Exits with the console's end unless
    the scenario passed."""
    with tempfile.TemporaryFile() as out:
        status = subprocess.call(list(prefix) + argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if status != 0 or f"MICA-TEST: {scenario} PASS" not in text:
        sys.exit(f"{argv[0]} failed (status {status}):\n{text[-3000:]}")
    return {m[1]: (float(m[2]), m[3]) for m in re.finditer(r"MICA-BENCH: (\S+) ([0-9.]+) (\S+)", text)}


def compare(runs):
    """Runs {vmm: [figures per run]}, mica-vmm's first (one entry or several, each named
    "mica-vmm..."): prints each figure's median per VMM with the range of the runs (TCG
    in an emulated host is noisy), and the ratio of the medians of each mica-vmm entry /
    each peer (above 1: mica-vmm moved more)."""
    def cell(name, vmm):
        values = [r[name][0] for r in runs[vmm]]
        median = statistics.median(values)
        return median, f"{median:.1f} ({min(values):.1f}-{max(values):.1f})"
    ours = [vmm for vmm in runs if vmm.startswith("mica-vmm")]
    peers = [vmm for vmm in runs if vmm not in ours]
    pairs = [(o, p) for o in ours for p in peers]
    label = (lambda o, p: f"{o} vs {p}") if len(ours) > 1 else (lambda o, p: f"vs {p}")
    first = runs[ours[0]]
    print(f"{'figure':14} " + " ".join(f"{vmm:>22}" for vmm in runs) + "  unit   " +
          " ".join(f"{label(o, p):>20}" for o, p in pairs) + f"   (median of {len(first)} runs, range)")
    for name in first[0]:
        cells = {vmm: cell(name, vmm) for vmm in runs}
        ratios = " ".join(f"{(f'{cells[o][0] / cells[p][0]:.2f}' if cells[p][0] else '-'):>{len(label(o, p))}}"
                          for o, p in pairs)
        print(f"{name:14} " + " ".join(f"{cells[vmm][1]:>22}" for vmm in runs) +
              f"  {first[0][name][1]:6} {ratios}")