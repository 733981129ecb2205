#include "DomainCapabilitiesXml.h"

#include <algorithm>
#include <set>
#include <vector>

#include "CapabilitiesXml.h"
#include "XmlWriter.h"

namespace mica::caps {

namespace {

const char* yesNo(bool b)
{
    return b ? "yes" : "no";
}

void simpleFeature(XmlWriter& w, const char* name, bool supported)
{
    w.empty(name, {{"supported", yesNo(supported)}});
}

void writeOs(XmlWriter& w, const HostInfo& h)
{
    if (!h.vmm.present) {
        w.empty("os", {{"supported", "no"}});
        return;
    }
    std::set<std::string> firmware;
    std::set<std::string> loaderTypes;
    std::vector<std::string> loaders;
    for (const auto& fw : h.firmware.descriptors) {
        if (!fw.usable)
            continue;
        for (const auto& i : fw.interfaces) {
            if (i == "uefi")
                firmware.insert("efi");
            else if (i == "bios")
                firmware.insert("bios");
        }
        loaderTypes.insert(fw.device == "flash" ? "pflash" : "rom");
        if (std::find(loaders.begin(), loaders.end(), fw.executable) == loaders.end())
            loaders.push_back(fw.executable);
    }
    w.open("os", {{"supported", "yes"}});
    w.enumeration("firmware", firmware);
    if (loaders.empty()) {
        // Direct kernel boot needs no loader; claiming one would send clients looking
        // for firmware images we cannot start.
        w.empty("loader", {{"supported", "no"}});
    } else {
        w.open("loader", {{"supported", "yes"}});
        for (const auto& l : loaders)
            w.text("value", l);
        w.enumeration("type", loaderTypes);
        w.enumeration("readonly", std::vector<std::string>{"yes"});
        w.enumeration("secure", std::vector<std::string>{"no"});
        w.close("loader");
    }
    w.close("os");
}

void writeCpu(XmlWriter& w, const HostInfo& h)
{
    // With KVM, "maximum" and "host-passthrough" are the same CPU: everything KVM offers.
    const bool passthrough = h.kvm.available && h.vmm.present;
    const bool models = passthrough && h.vmm.hasFeature("cpu-models");
    w.open("cpu");
    if (passthrough) {
        w.open("mode", {{"name", "host-passthrough"}, {"supported", "yes"}});
        // Migration is not something mica-vmm offers yet, so a passthrough CPU is
        // never "migratable".
        w.enumeration("hostPassthroughMigratable", std::vector<std::string>{"off"});
        w.close("mode");
        w.open("mode", {{"name", "maximum"}, {"supported", "yes"}});
        w.enumeration("maximumMigratable", std::vector<std::string>{"off"});
        w.close("mode");
    } else {
        w.empty("mode", {{"name", "host-passthrough"}, {"supported", "no"}});
        w.empty("mode", {{"name", "maximum"}, {"supported", "no"}});
    }
    if (models && !h.cpu.model.empty()) {
        w.open("mode", {{"name", "host-model"}, {"supported", "yes"}});
        w.text("model", h.cpu.model, {{"fallback", "forbid"}});
        if (!h.cpu.vendor.empty())
            w.text("vendor", h.cpu.vendor);
        for (const auto& f : h.cpu.extra)
            w.empty("feature", {{"policy", "require"}, {"name", f}});
        for (const auto& f : h.cpu.missing)
            w.empty("feature", {{"policy", "disable"}, {"name", f}});
        w.close("mode");
    } else {
        w.empty("mode", {{"name", "host-model"}, {"supported", "no"}});
    }
    if (models && !h.customModels.empty()) {
        w.open("mode", {{"name", "custom"}, {"supported", "yes"}});
        for (const auto& m : h.customModels)
            w.text("model", m.name, {{"usable", yesNo(m.usable)}, {"vendor", m.vendor}});
        w.close("mode");
    } else {
        w.empty("mode", {{"name", "custom"}, {"supported", "no"}});
    }
    w.close("cpu");
}

void writeMemoryBacking(XmlWriter& w, const HostInfo& h)
{
    if (!h.vmm.present) {
        w.empty("memoryBacking", {{"supported", "no"}});
        return;
    }
    std::vector<std::string> types{"anonymous"};
    if (h.vmm.hasFeature("memory-file"))
        types.push_back("file");
    if (h.vmm.hasFeature("memfd"))
        types.push_back("memfd");
    w.open("memoryBacking", {{"supported", "yes"}});
    w.enumeration("sourceType", types);
    w.close("memoryBacking");
}

void writeDevices(XmlWriter& w, const HostInfo& h)
{
    const VmmFeatures& v = h.vmm;
    w.open("devices");

    std::vector<std::string> diskDevices, buses;
    if (v.hasDevice("virtio-blk")) {
        diskDevices.push_back("disk");
        buses.push_back("virtio");
    }
    if (v.hasDevice("virtio-scsi"))
        buses.push_back("scsi");
    if (diskDevices.empty()) {
        w.empty("disk", {{"supported", "no"}});
    } else {
        w.open("disk", {{"supported", "yes"}});
        w.enumeration("diskDevice", diskDevices);
        w.enumeration("bus", buses);
        w.enumeration("model", std::vector<std::string>{"virtio"});
        w.close("disk");
    }

    // No display and no emulated GPU: a serial console is the only screen mica-vmm has.
    w.empty("graphics", {{"supported", "no"}});
    w.empty("video", {{"supported", "no"}});

    if (h.vfio && h.kvm.available && v.hasDevice("vfio-pci")) {
        w.open("hostdev", {{"supported", "yes"}});
        w.enumeration("mode", std::vector<std::string>{"subsystem"});
        w.enumeration("startupPolicy", std::vector<std::string>{"default", "mandatory", "requisite", "optional"});
        w.enumeration("subsysType", std::vector<std::string>{"pci"});
        w.enumeration("capsType", std::vector<std::string>{});
        w.enumeration("pciBackend", std::vector<std::string>{"default", "vfio"});
        w.close("hostdev");
    } else {
        w.empty("hostdev", {{"supported", "no"}});
    }

    if (v.hasDevice("virtio-rng")) {
        w.open("rng", {{"supported", "yes"}});
        w.enumeration("model", std::vector<std::string>{"virtio"});
        w.enumeration("backendModel", std::vector<std::string>{"random"});
        w.close("rng");
    } else {
        w.empty("rng", {{"supported", "no"}});
    }

    if (v.hasDevice("virtio-fs")) {
        w.open("filesystem", {{"supported", "yes"}});
        w.enumeration("driverType", std::vector<std::string>{"virtiofs"});
        w.close("filesystem");
    } else {
        w.empty("filesystem", {{"supported", "no"}});
    }

    w.empty("tpm", {{"supported", "no"}});
    w.empty("redirdev", {{"supported", "no"}});
    // A <channel> is a named virtio-serial port (the guest agent's, say), which the
    // plain virtio console does not give; the VMM lists "virtio-channel" when it can.
    if (v.hasDevice("virtio-channel")) {
        w.open("channel", {{"supported", "yes"}});
        w.enumeration("type", std::vector<std::string>{"pty", "unix"});
        w.close("channel");
    } else {
        w.empty("channel", {{"supported", "no"}});
    }
    w.close("devices");
}

void writeFeatures(XmlWriter& w, const HostInfo& h)
{
    const VmmFeatures& v = h.vmm;
    w.open("features");
    simpleFeature(w, "gic", false);  // an ARM interrupt controller; never on x86
    simpleFeature(w, "vmcoreinfo", v.hasDevice("vmcoreinfo") || v.hasFeature("vmcoreinfo"));
    simpleFeature(w, "genid", v.hasDevice("vmgenid") || v.hasFeature("vmgenid"));
    // A chain given in the domain XML would have to override the images' own metadata,
    // which mica-vmm follows; virtmicad refuses <backingStore> input, whatever the VMM.
    simpleFeature(w, "backingStoreInput", false);
    simpleFeature(w, "backup", v.hasFeature("backup"));
    if (h.kvm.available && h.sev.supported() && v.hasFeature("sev")) {
        w.open("sev", {{"supported", "yes"}});
        w.text("cbitpos", std::to_string(h.sev.cbitpos));
        w.text("reducedPhysBits", std::to_string(h.sev.reducedPhysBits));
        w.text("maxGuests", std::to_string(h.sev.maxGuests));
        // SEV-ES guests need the VMM to run them too, not only the host.
        w.text("maxESGuests", std::to_string(v.hasFeature("sev-es") ? h.sev.maxESGuests : 0));
        w.close("sev");
    } else {
        simpleFeature(w, "sev", false);
    }
    if (h.kvm.available && h.sgx.supported() && v.hasFeature("sgx")) {
        w.open("sgx", {{"supported", "yes"}});
        w.text("flc", yesNo(h.sgx.flc));
        w.text("sgx1", yesNo(h.sgx.sgx1));
        w.text("sgx2", yesNo(h.sgx.sgx2));
        w.text("section_size", std::to_string(h.sgx.totalKiB), {{"unit", "KiB"}});
        w.open("sections");
        for (const auto& s : h.sgx.sections)
            w.empty("section", {{"node", std::to_string(s.node)},
                                {"size", std::to_string(s.sizeKiB)},
                                {"unit", "KiB"}});
        w.close("sections");
        w.close("sgx");
    } else {
        simpleFeature(w, "sgx", false);
    }
    w.close("features");
}

}  // namespace

std::string formatDomainCapabilities(const HostInfo& h)
{
    XmlWriter w;
    w.open("domainCapabilities");
    w.text("path", h.vmm.path);
    w.text("domain", "kvm");
    w.text("machine", kMachine);
    w.text("arch", kArch);
    if (unsigned limit = guestVcpuLimit(h))
        w.empty("vcpu", {{"max", std::to_string(limit)}});
    w.empty("iothreads", {{"supported", yesNo(h.vmm.hasFeature("iothreads"))}});
    writeOs(w, h);
    writeCpu(w, h);
    writeMemoryBacking(w, h);
    writeDevices(w, h);
    writeFeatures(w, h);
    w.close("domainCapabilities");
    return w.str();
}

}  // namespace mica::caps
