// What libvirt's post-parse step does for mica: defaults (uuid, MACs, PCI slots) and
// checks that span several elements.
#include <array>
#include <cstdio>
#include <random>
#include <set>
#include <algorithm>

#include "ConfError.h"
#include "DomainXmlParserParts.h"
#include "VmConfigTranslator.h"
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

// Like libvirt's PCI address assignment: an address in the XML is kept (mica-vmm puts
// the device in that slot), the others get the lowest free slots in device order.
// mica-vmm reports where each device went (vm.info) and the live XML takes it from there.
class SlotAssigner {
public:
    void reserve(const std::optional<PciAddress>& address, const std::string& what)
    {
        if (!address)
            return;
        if (taken_[address->slot])
            invalidXml(subst(_("Attempted double use of PCI Address %1 (%2)"), {slotText(address->slot), what}));
        taken_[address->slot] = true;
    }
    void place(std::optional<PciAddress>& address)
    {
        if (address)
            return;
        while (next_ <= 31 && taken_[next_])
            ++next_;
        if (next_ > 31)
            unsupported(_("too many PCI devices: mica has 31 slots on its root bus"));
        taken_[next_] = true;
        address = PciAddress{next_};
    }

private:
    std::array<bool, 32> taken_{};
    unsigned next_ = 1;
};

// "net<N>" for a NIC without an alias, N above every one in use: a NIC attached after a
// detach never takes the id of one the VMM may still be removing, and no NIC's id
// changes when another goes (positional ids would).
void assignAliases(DomainDef& def)
{
    unsigned nextNet = 0;
    for (const auto& net : def.nets)
        if (net.alias.size() > 3 && net.alias.compare(0, 3, "net") == 0 &&
            net.alias.find_first_not_of("0123456789", 3) == std::string::npos && net.alias.size() < 9)
            nextNet = std::max(nextNet, unsigned(std::stoul(net.alias.substr(3))) + 1);
    for (auto& net : def.nets)
        if (net.alias.empty())
            net.alias = "net" + std::to_string(nextNet++);
    for (auto& disk : def.disks)
        if (disk.alias.empty())
            disk.alias = disk.target;
    if (def.console && def.console->alias.empty())
        def.console->alias = "console0";
    if (def.rng && def.rng->alias.empty())
        def.rng->alias = "rng0";
    if (def.vsock && def.vsock->alias.empty())
        def.vsock->alias = "vsock0";
    if (def.balloon.present && def.balloon.alias.empty())
        def.balloon.alias = "balloon0";
    std::set<std::string> seen;
    for (const auto& device : pciDevices(def))
        if (!seen.insert(*device.alias).second)
            invalidXml(subst(_("non unique alias detected: %1"), {*device.alias}));
}

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

    if (def.console)
        def.console->address.reset();  // a virtio console's XML has no PCI address; its slot comes anew
    // A definition keeps the user's aliases only (libvirt's rule); the daemon's come
    // back from the status XML of a running domain.
    if (def.id < 0)
        for (auto& device : pciDevices(def))
            if (!isUserAlias(*device.alias))
                device.alias->clear();
    completeDevices(def);
}

void completeDevices(DomainDef& def)
{
    std::random_device rd;
    for (auto& net : def.nets) {
        if (net.mac.empty()) {
            std::string h = randomHex(rd, 3);
            net.mac = "52:54:00:" + h.substr(0, 2) + ":" + h.substr(2, 2) + ":" + h.substr(4, 2);
        }
    }
    assignAliases(def);
    // In the order mica-vmm lists devices: an XML without addresses gets the slots it
    // always had.
    auto devices = pciDevices(def);
    SlotAssigner slots;
    for (auto& device : devices)
        slots.reserve(*device.address, device.what);
    for (auto& device : devices)
        slots.place(*device.address);
}

}  // namespace mica::conf::detail
