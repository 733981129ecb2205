// mica-domcaps: prints the domainCapabilities XML `virsh domcapabilities` gets from
// virtmicad (or, with --capabilities, the host capabilities XML), probed live or from a
// fake host tree given with --root.
#include <getopt.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "Capabilities.h"
#include "HostRoot.h"
#include "KvmProbe.h"
#include "i18n.h"

namespace {

void usage(FILE* to)
{
    std::fputs(_("Usage: mica-domcaps [--root DIR] [--vmm PATH] [--vmm-features FILE] [--capabilities]\n"
                 "                    [--virttype T] [--arch A] [--machine M] [--emulatorbin P]\n"
                 "       mica-domcaps [--root DIR] --dump-kvm\n"
                 "Prints libvirt domainCapabilities XML for this host and mica-vmm (host capabilities\n"
                 "XML with --capabilities). --dump-kvm prints /dev/kvm's answers in the format of a\n"
                 "test fixture's dev/kvm file.\n"),
               to);
}

}  // namespace

int main(int argc, char** argv)
{
    mica::initI18n();
    enum { OptRoot = 256, OptVmm, OptVmmFeatures, OptCaps, OptVirttype, OptArch, OptMachine, OptEmulator, OptDumpKvm,
           OptCpuMap, OptHelp };
    static const option longopts[] = {
        {"root", required_argument, nullptr, OptRoot},
        {"vmm", required_argument, nullptr, OptVmm},
        {"vmm-features", required_argument, nullptr, OptVmmFeatures},
        {"cpu-map", required_argument, nullptr, OptCpuMap},
        {"capabilities", no_argument, nullptr, OptCaps},
        {"virttype", required_argument, nullptr, OptVirttype},
        {"arch", required_argument, nullptr, OptArch},
        {"machine", required_argument, nullptr, OptMachine},
        {"emulatorbin", required_argument, nullptr, OptEmulator},
        {"dump-kvm", no_argument, nullptr, OptDumpKvm},
        {"help", no_argument, nullptr, OptHelp},
        {nullptr, 0, nullptr, 0},
    };
    mica::caps::Options opts;
    bool hostCaps = false, dumpKvm = false;
    std::optional<std::string> virttype, arch, machine, emulatorbin;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, nullptr)) != -1) {
        switch (c) {
        case OptRoot: opts.root = optarg; break;
        case OptVmm: opts.vmmPath = optarg; break;
        case OptVmmFeatures: opts.vmmFeaturesFile = optarg; break;
        case OptCpuMap: opts.cpuMapDir = optarg; break;
        case OptCaps: hostCaps = true; break;
        case OptVirttype: virttype = optarg; break;
        case OptArch: arch = optarg; break;
        case OptMachine: machine = optarg; break;
        case OptEmulator: emulatorbin = optarg; break;
        case OptDumpKvm: dumpKvm = true; break;
        case OptHelp: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        std::fprintf(stderr, _("mica-domcaps: unexpected argument '%s'\n"), argv[optind]);
        usage(stderr);
        return 2;
    }
    try {
        if (dumpKvm) {
            auto kvm = mica::caps::probeKvm(mica::caps::HostRoot(opts.root));
            if (!kvm.available) {
                std::fprintf(stderr, _("mica-domcaps: no usable KVM: %s\n"), kvm.error.c_str());
                return 1;
            }
            std::cout << mica::caps::kvmInfoToJson(kvm);
            return 0;
        }
        mica::caps::Capabilities caps(opts);
        std::cout << (hostCaps ? caps.hostXml() : caps.domainXml(emulatorbin, arch, machine, virttype));
    } catch (const mica::caps::CapsError& e) {
        std::fprintf(stderr, _("mica-domcaps: error %d: %s\n"), e.code, e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, _("mica-domcaps: %s\n"), e.what());
        return 1;
    }
    return 0;
}
