#include "DomainXmlFormatter.h"

#include <cstdio>

#include "ConfError.h"
#include "SecLabel.h"
#include "Tuning.h"
#include "Xml.h"
#include "i18n.h"

namespace mica::conf {

namespace {

class Builder {
public:
    explicit Builder(xmlDoc* doc) : doc_(doc) {}

    xmlNode* add(xmlNode* parent, const char* name, const std::string& text = {})
    {
        xmlNode* n = xmlNewDocNode(doc_, nullptr, BAD_CAST name, nullptr);
        if (!text.empty())
            xmlNodeAddContent(n, BAD_CAST text.c_str());  // escapes
        xmlAddChild(parent, n);
        return n;
    }
    static xmlNode* set(xmlNode* n, const char* attr, const std::string& value)
    {
        xmlSetProp(n, BAD_CAST attr, BAD_CAST value.c_str());
        return n;
    }

private:
    xmlDoc* doc_;
};

std::string hex(unsigned v, int width)
{
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%0*x", width, v);
    return buf;
}

const char* actionName(LifecycleAction a)
{
    return a == LifecycleAction::Destroy ? "destroy" : "restart";
}

// <alias> then <address>, as libvirt orders a device's info: the daemon's aliases in the
// live XML only, the user's ("ua-") in the definition too.
void formatAddress(Builder& b, xmlNode* parent, const std::optional<PciAddress>& a, const std::string& alias, bool live)
{
    if (!alias.empty() && (live || isUserAlias(alias)))
        Builder::set(b.add(parent, "alias"), "name", alias);
    if (!a)
        return;
    xmlNode* n = b.add(parent, "address");
    Builder::set(n, "type", "pci");
    Builder::set(n, "domain", hex(0, 4));
    Builder::set(n, "bus", hex(0, 2));
    Builder::set(n, "slot", hex(a->slot, 2));
    Builder::set(n, "function", hex(0, 1));
}

// <source> and the element's type for a serial port or console.
void formatCharSource(Builder& b, xmlNode* dev, const CharSource& src, bool live)
{
    switch (src.type) {
    case CharSource::Type::Pty:
        Builder::set(dev, "type", "pty");
        if (live && !src.path.empty())
            Builder::set(b.add(dev, "source"), "path", src.path);
        break;
    case CharSource::Type::File:
        Builder::set(dev, "type", "file");
        Builder::set(b.add(dev, "source"), "path", src.path);
        break;
    case CharSource::Type::Unix: {
        Builder::set(dev, "type", "unix");
        xmlNode* s = b.add(dev, "source");
        Builder::set(s, "mode", "bind");
        Builder::set(s, "path", src.path);
        break;
    }
    }
}

// The live XML's chain below a disk's source, as libvirt's QEMU driver writes it: each
// link a <backingStore> inside the one above, the last an empty <backingStore/> (the
// image stands alone). Every image gets an index ("vda[2]" in block operations), the
// source first, numbered on across the domain's disks.
void formatBackingChain(Builder& b, xmlNode* disk, xmlNode* source, const std::vector<BackingStoreDef>& chain,
                        unsigned& index)
{
    Builder::set(source, "index", std::to_string(index++));
    xmlNode* parent = disk;
    for (const auto& link : chain) {
        xmlNode* n = b.add(parent, "backingStore");
        bool block = link.type == BackingStoreDef::Type::Block;
        Builder::set(n, "type", block ? "block" : "file");
        Builder::set(n, "index", std::to_string(index++));
        Builder::set(b.add(n, "format"), "type", diskFormatName(link.format));
        Builder::set(b.add(n, "source"), block ? "dev" : "file", link.path);
        parent = n;
    }
    b.add(parent, "backingStore");
}

void formatDevices(Builder& b, xmlNode* devices, const DomainDef& def, bool live)
{
    if (!def.emulator.empty())
        b.add(devices, "emulator", def.emulator);
    unsigned imageIndex = 1;
    for (const auto& d : def.disks) {
        xmlNode* n = b.add(devices, "disk");
        Builder::set(n, "type", d.type == DiskDef::Type::File ? "file" : "block");
        Builder::set(n, "device", "disk");
        if (d.model)
            Builder::set(n, "model", *d.model);
        xmlNode* drv = b.add(n, "driver");
        Builder::set(drv, "name", "qemu");
        Builder::set(drv, "type", diskFormatName(d.format));
        if (d.cache)
            Builder::set(drv, "cache", *d.cache);
        if (d.io)
            Builder::set(drv, "io", *d.io);
        if (d.discard)
            Builder::set(drv, "discard", *d.discard);
        if (d.queues)
            Builder::set(drv, "queues", std::to_string(d.queues));
        xmlNode* source = Builder::set(b.add(n, "source"), d.type == DiskDef::Type::File ? "file" : "dev", d.source);
        if (live && d.backingChain)
            formatBackingChain(b, n, source, *d.backingChain, imageIndex);
        xmlNode* t = b.add(n, "target");
        Builder::set(t, "dev", d.target);
        Builder::set(t, "bus", "virtio");
        if (d.iotune != IoLimits{}) {
            xmlNode* io = b.add(n, "iotune");
            for (const auto& f : kIoLimitFields)
                if (uint64_t v = fieldOf(d.iotune, f))
                    b.add(io, f.name, std::to_string(v));
        }
        if (d.readonly)
            b.add(n, "readonly");
        if (d.shareable)
            b.add(n, "shareable");
        if (!d.serial.empty())
            b.add(n, "serial", d.serial);
        formatAddress(b, n, d.address, d.alias, live);
    }
    for (const auto& c : def.usbControllers) {
        xmlNode* n = b.add(devices, "controller");
        Builder::set(n, "type", "usb");
        if (c.index)
            Builder::set(n, "index", std::to_string(*c.index));
        if (!c.model.empty())
            Builder::set(n, "model", c.model);
        if (c.ports)
            Builder::set(n, "ports", std::to_string(*c.ports));
        if (c.masterStartport)
            Builder::set(b.add(n, "master"), "startport", std::to_string(*c.masterStartport));
    }
    {
        xmlNode* n = b.add(devices, "controller");
        Builder::set(n, "type", "pci");
        Builder::set(n, "index", "0");
        Builder::set(n, "model", def.pciRootModel);
    }
    for (const auto& net : def.nets) {
        xmlNode* n = b.add(devices, "interface");
        Builder::set(n, "type", net.type == NetDef::Type::Bridge ? "bridge" : "ethernet");
        Builder::set(b.add(n, "mac"), "address", net.mac);
        if (net.type == NetDef::Type::Bridge)
            Builder::set(b.add(n, "source"), "bridge", net.bridge);
        if (!net.targetDev.empty())
            Builder::set(b.add(n, "target"), "dev", net.targetDev);
        Builder::set(b.add(n, "model"), "type", "virtio");
        if (net.queues)
            Builder::set(b.add(n, "driver"), "queues", std::to_string(net.queues));
        if (net.mtu)
            Builder::set(b.add(n, "mtu"), "size", std::to_string(*net.mtu));
        formatAddress(b, n, net.address, net.alias, live);
    }
    if (def.serial) {
        xmlNode* n = b.add(devices, "serial");
        formatCharSource(b, n, def.serial->source, live);
        xmlNode* t = b.add(n, "target");
        Builder::set(t, "type", "isa-serial");
        Builder::set(t, "port", "0");
        Builder::set(b.add(t, "model"), "name", "isa-serial");
        // libvirt shows serial port 0 again as the console.
        xmlNode* c = b.add(devices, "console");
        formatCharSource(b, c, def.serial->source, live);
        xmlNode* ct = b.add(c, "target");
        Builder::set(ct, "type", "serial");
        Builder::set(ct, "port", "0");
    }
    if (def.console) {
        xmlNode* c = b.add(devices, "console");
        formatCharSource(b, c, def.console->source, live);
        xmlNode* ct = b.add(c, "target");
        Builder::set(ct, "type", "virtio");
        Builder::set(ct, "port", "0");
        formatAddress(b, c, std::nullopt, def.console->alias, live);
    }
    if (def.videoNone)
        Builder::set(b.add(b.add(devices, "video"), "model"), "type", "none");
    {
        xmlNode* n = b.add(devices, "memballoon");
        Builder::set(n, "model", def.balloon.present ? "virtio" : "none");
        if (def.balloon.present) {
            if (def.balloon.autodeflate)
                Builder::set(n, "autodeflate", *def.balloon.autodeflate ? "on" : "off");
            if (def.balloon.freePageReportingGiven)
                Builder::set(n, "freePageReporting", def.balloon.freePageReporting ? "on" : "off");
            formatAddress(b, n, def.balloon.address, def.balloon.alias, live);
        }
    }
    if (def.rng) {
        xmlNode* n = b.add(devices, "rng");
        Builder::set(n, "model", "virtio");
        Builder::set(b.add(n, "backend", def.rng->backend), "model", "random");
        formatAddress(b, n, def.rng->address, def.rng->alias, live);
    }
    if (def.vsock) {
        xmlNode* n = b.add(devices, "vsock");
        Builder::set(n, "model", "virtio");
        xmlNode* cid = b.add(n, "cid");
        Builder::set(cid, "auto", def.vsock->autoCid ? "yes" : "no");
        if (!def.vsock->autoCid || (live && def.vsock->cid))
            Builder::set(cid, "address", std::to_string(def.vsock->cid));
        formatAddress(b, n, def.vsock->address, def.vsock->alias, live);
    }
}

}  // namespace

std::string formatDomainXml(const DomainDef& def, unsigned flags)
{
    const bool live = !(flags & VIR_DOMAIN_XML_INACTIVE) && def.id >= 0;
    XmlDocPtr doc(xmlNewDoc(BAD_CAST "1.0"));
    Builder b(doc.get());
    xmlNode* root = xmlNewDocNode(doc.get(), nullptr, BAD_CAST "domain", nullptr);
    xmlDocSetRootElement(doc.get(), root);
    Builder::set(root, "type", "kvm");
    if (live)
        Builder::set(root, "id", std::to_string(def.id));
    b.add(root, "name", def.name);
    b.add(root, "uuid", def.uuid);
    if (!def.title.empty())
        b.add(root, "title", def.title);
    if (!def.description.empty())
        b.add(root, "description", def.description);
    if (!def.metadata.empty()) {
        xmlNode* md = b.add(root, "metadata");
        for (const auto& m : def.metadata) {
            XmlDocPtr piece = parseXmlDocument(m, "metadata");
            xmlNode* copy = xmlDocCopyNode(xmlDocGetRootElement(piece.get()), doc.get(), 1);
            xmlAddChild(md, copy);
        }
    }
    Builder::set(b.add(root, "memory", std::to_string(def.memoryKiB)), "unit", "KiB");
    Builder::set(b.add(root, "currentMemory", std::to_string(def.currentMemoryKiB)), "unit", "KiB");
    formatTuning(def.tune, "blkiotune", root);
    formatTuning(def.tune, "memtune", root);
    if (def.memoryBacking.present()) {
        xmlNode* mb = b.add(root, "memoryBacking");
        if (def.memoryBacking.hugepages)
            b.add(mb, "hugepages");
        if (!def.memoryBacking.source.empty())
            Builder::set(b.add(mb, "source"), "type", def.memoryBacking.source);
        if (!def.memoryBacking.access.empty())
            Builder::set(b.add(mb, "access"), "mode", def.memoryBacking.access);
    }
    xmlNode* vcpu = b.add(root, "vcpu", std::to_string(def.vcpusMax));
    Builder::set(vcpu, "placement", "static");
    if (def.vcpusCurrent != def.vcpusMax)
        Builder::set(vcpu, "current", std::to_string(def.vcpusCurrent));
    formatTuning(def.tune, "cputune", root);

    xmlNode* os = b.add(root, "os");
    xmlNode* type = b.add(os, "type", "hvm");
    Builder::set(type, "arch", def.os.arch);
    Builder::set(type, "machine", def.os.machine);
    b.add(os, "kernel", def.os.kernel);
    if (!def.os.initrd.empty())
        b.add(os, "initrd", def.os.initrd);
    if (!def.os.cmdline.empty())
        b.add(os, "cmdline", def.os.cmdline);

    xmlNode* features = b.add(root, "features");
    if (def.acpi)
        b.add(features, "acpi");
    if (def.apic)
        b.add(features, "apic");
    if (def.pae)
        b.add(features, "pae");
    if (def.vmportOff)
        Builder::set(b.add(features, "vmport"), "state", "off");

    if (def.cpu.mode != CpuDef::Mode::None || def.cpu.hasTopology) {
        xmlNode* cpu = b.add(root, "cpu");
        if (def.cpu.mode == CpuDef::Mode::HostPassthrough)
            Builder::set(cpu, "mode", "host-passthrough");
        else if (def.cpu.mode == CpuDef::Mode::Maximum)
            Builder::set(cpu, "mode", "maximum");
        if (def.cpu.check)
            Builder::set(cpu, "check", *def.cpu.check);
        if (def.cpu.migratable)
            Builder::set(cpu, "migratable", *def.cpu.migratable);
        if (def.cpu.hasTopology) {
            xmlNode* t = b.add(cpu, "topology");
            Builder::set(t, "sockets", std::to_string(def.cpu.sockets));
            Builder::set(t, "dies", std::to_string(def.cpu.dies));
            Builder::set(t, "cores", std::to_string(def.cpu.cores));
            Builder::set(t, "threads", std::to_string(def.cpu.threads));
        }
    }
    xmlNode* clock = b.add(root, "clock");
    Builder::set(clock, "offset", def.clockOffset);
    for (const auto& t : def.timers) {
        xmlNode* n = b.add(clock, "timer");
        Builder::set(n, "name", t.name);
        if (!t.tickpolicy.empty())
            Builder::set(n, "tickpolicy", t.tickpolicy);
        if (!t.present.empty())
            Builder::set(n, "present", t.present);
    }
    b.add(root, "on_poweroff", actionName(def.onPoweroff));
    b.add(root, "on_reboot", actionName(def.onReboot));
    b.add(root, "on_crash", actionName(def.onCrash));
    if (def.pmGiven) {
        xmlNode* pm = b.add(root, "pm");
        Builder::set(b.add(pm, "suspend-to-mem"), "enabled", "no");
        Builder::set(b.add(pm, "suspend-to-disk"), "enabled", "no");
    }
    formatDevices(b, b.add(root, "devices"), def, live);
    formatSecLabel(def, live, root);

    XmlBufferPtr buf(xmlBufferCreate());
    if (xmlNodeDump(buf.get(), doc.get(), root, 0, 1) < 0)
        throw ConfError(VIR_ERR_INTERNAL_ERROR, _("cannot serialize the domain XML"));
    return std::string(reinterpret_cast<const char*>(xmlBufferContent(buf.get())), size_t(xmlBufferLength(buf.get()))) +
           "\n";
}

}  // namespace mica::conf
