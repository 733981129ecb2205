#include "CapabilitiesXml.h"

#include <algorithm>
#include <cctype>

#include "XmlWriter.h"

namespace mica::caps {

namespace {

// The host <cpu> schema allows fewer characters in feature names than cpu_map uses
// ("sse4.1"); libvirt's own formatter never lists such a feature outside the model.
bool hostFeatureNameOk(const std::string& n)
{
    return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
}

void writeHostCpu(XmlWriter& w, const HostInfo& h)
{
    const auto& t = h.topology;
    w.open("cpu");
    w.text("arch", kArch);
    if (!h.cpu.model.empty())
        w.text("model", h.cpu.model);
    if (!h.cpu.vendor.empty())
        w.text("vendor", h.cpu.vendor);
    if (h.cpu.signature.family > 0)
        w.empty("signature", {{"family", std::to_string(h.cpu.signature.family)},
                              {"model", std::to_string(h.cpu.signature.model)},
                              {"stepping", std::to_string(h.cpu.signature.stepping)}});
    w.empty("topology", {{"sockets", std::to_string(t.sockets)},
                         {"dies", std::to_string(t.dies)},
                         {"cores", std::to_string(t.cores)},
                         {"threads", std::to_string(t.threads)}});
    if (t.physAddrBits)
        w.empty("maxphysaddr", {{"mode", "emulate"}, {"bits", std::to_string(t.physAddrBits)}});
    for (const auto& f : h.cpu.extra)
        if (hostFeatureNameOk(f))
            w.empty("feature", {{"name", f}});
    for (unsigned size : t.pageSizesKiB)
        w.empty("pages", {{"unit", "KiB"}, {"size", std::to_string(size)}});
    w.close("cpu");
}

void writeTopology(XmlWriter& w, const HostTopology& t)
{
    w.open("topology");
    w.open("cells", {{"num", std::to_string(t.cells.size())}});
    for (const auto& c : t.cells) {
        w.open("cell", {{"id", std::to_string(c.id)}});
        w.text("memory", std::to_string(c.memoryKiB), {{"unit", "KiB"}});
        for (const auto& p : c.pages)
            w.text("pages", std::to_string(p.count), {{"unit", "KiB"}, {"size", std::to_string(p.sizeKiB)}});
        if (!c.distances.empty()) {
            w.open("distances");
            for (const auto& [node, value] : c.distances)
                w.empty("sibling", {{"id", std::to_string(node)}, {"value", std::to_string(value)}});
            w.close("distances");
        }
        w.open("cpus", {{"num", std::to_string(c.cpus.size())}});
        for (const auto& cpu : c.cpus)
            w.empty("cpu", {{"id", std::to_string(cpu.id)},
                            {"socket_id", std::to_string(cpu.socket)},
                            {"die_id", std::to_string(cpu.die)},
                            {"core_id", std::to_string(cpu.core)},
                            {"siblings", cpu.siblings}});
        w.close("cpus");
        w.close("cell");
    }
    w.close("cells");
    w.close("topology");
}

}  // namespace

unsigned guestVcpuLimit(const HostInfo& host)
{
    if (!host.kvm.available || !host.vmm.present)
        return 0;
    return std::min(static_cast<unsigned>(host.kvm.vcpuLimit()), host.vmm.maxVcpus);
}

std::string formatCapabilities(const HostInfo& h)
{
    XmlWriter w;
    w.open("capabilities");
    w.open("host");
    if (!h.uuid.empty())
        w.text("uuid", h.uuid);
    writeHostCpu(w, h);
    if (h.suspendMem || h.suspendDisk) {
        w.open("power_management");
        if (h.suspendMem)
            w.empty("suspend_mem");
        if (h.suspendDisk)
            w.empty("suspend_disk");
        if (h.suspendMem && h.suspendDisk)
            w.empty("suspend_hybrid");
        w.close("power_management");
    } else {
        w.empty("power_management");
    }
    w.empty("iommu", {{"support", h.iommu ? "yes" : "no"}});
    // Live migration is the VMM's to offer; until it says so we list no transport.
    if (h.vmm.hasFeature("migration")) {
        w.open("migration_features");
        w.empty("live");
        w.open("uri_transports");
        w.text("uri_transport", "tcp");
        w.close("uri_transports");
        w.close("migration_features");
    } else {
        w.empty("migration_features");
    }
    writeTopology(w, h.topology);
    w.open("secmodel");
    w.text("model", "none");
    w.text("doi", "0");
    w.close("secmodel");
    w.close("host");

    // A guest entry promises that `virsh create` can work: it needs both KVM and the VMM.
    if (unsigned limit = guestVcpuLimit(h)) {
        w.open("guest");
        w.text("os_type", "hvm");
        w.open("arch", {{"name", kArch}});
        w.text("wordsize", "64");
        w.text("emulator", h.vmm.path);
        w.text("machine", kMachine, {{"maxCpus", std::to_string(limit)}});
        w.empty("domain", {{"type", "kvm"}});
        w.close("arch");
        w.open("features");
        w.empty("acpi", {{"default", "on"}, {"toggle", "no"}});
        w.empty("apic", {{"default", "on"}, {"toggle", "no"}});
        w.close("features");
        w.close("guest");
    }
    w.close("capabilities");
    return w.str();
}

}  // namespace mica::caps
