// What libvirt's post-parse step does for mica: defaults (uuid, MACs, PCI slots) and
// checks that span several elements.
#include <cstdio>
#include <random>

#include "ConfError.h"
#include "DomainXmlParserParts.h"
#include "i18n.h"

namespace mica::conf::detail {

namespace {

std::string randomHex(std::random_device& rd, size_t bytes)
{
    std::string out;
    char buf[3];
    for (size_t i = 0; i < bytes; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", unsigned(rd() & 0xff));
        out += buf;
    }
    return out;
}

std::string slotText(unsigned slot)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "0000:00:%02x.0", slot);
    return buf;
}

// mica-vmm places virtio devices on bus 0 in a fixed order (docs/domain-xml.md), so an
// address in the XML is honoured only when it is the slot that order gives.
class SlotAssigner {
public:
    void place(std::optional<PciAddress>& address, const std::string& what)
    {
        if (next_ > 31)
            unsupported(_("too many PCI devices: mica has 31 slots on its root bus"));
        unsigned slot = next_++;
        if (address && address->slot != slot)
            unsupported(subst(_("%1: PCI address %2 is not supported by mica: it places this device at %3"),
                              {what, slotText(address->slot), slotText(slot)}));
        address = PciAddress{slot};
    }

private:
    unsigned next_ = 1;
};

}  // namespace

void completeDomainDef(DomainDef& def)
{
    // mica always has ACPI tables and an APIC; the XML says so.
    def.acpi = def.apic = true;
    if (def.serial)
        def.consoleOnSerial = true;  // libvirt's rule: serial port 0 is also the console

    std::random_device rd;
    if (def.uuid.empty()) {
        std::string h = randomHex(rd, 16);
        h[12] = '4';                                           // version 4
        h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];  // RFC 4122 variant
        def.uuid = h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" +
                   h.substr(20);
    }
    for (auto& net : def.nets) {
        if (net.mac.empty()) {
            std::string h = randomHex(rd, 3);
            net.mac = "52:54:00:" + h.substr(0, 2) + ":" + h.substr(2, 2) + ":" + h.substr(4, 2);
        }
    }

    if (def.cpu.hasTopology) {
        unsigned long long product = 1ull * def.cpu.sockets * def.cpu.dies * def.cpu.cores * def.cpu.threads;
        if (product != def.vcpusMax)
            invalidXml(subst(_("CPU topology doesn't match maximum vcpu count (%1 != %2)"),
                           {std::to_string(product), std::to_string(def.vcpusMax)}));
    }
    if (def.vcpusMax > 254)
        unsupported(subst(_("%1 vCPUs are more than mica supports (254)"), {std::to_string(def.vcpusMax)}));
    if (def.currentMemoryKiB != def.memoryKiB && !def.balloon.present)
        unsupported(_("currentMemory below memory needs a virtio memballoon: mica cannot otherwise hold memory back"));
    if (def.memoryBacking.hugepages && def.memoryKiB % 2048)
        unsupported(_("memory backed by huge pages must be a multiple of 2 MiB"));

    SlotAssigner slots;
    for (auto& d : def.disks)
        slots.place(d.address, "disk '" + d.target + "'");
    for (size_t i = 0; i < def.nets.size(); ++i)
        slots.place(def.nets[i].address, "interface " + def.nets[i].mac);
    if (def.console) {
        def.console->address.reset();
        slots.place(def.console->address, "console");
    }
    if (def.rng)
        slots.place(def.rng->address, "rng");
    if (def.vsock)
        slots.place(def.vsock->address, "vsock");
    if (def.balloon.present)
        slots.place(def.balloon.address, "memballoon");
}

}  // namespace mica::conf::detail
