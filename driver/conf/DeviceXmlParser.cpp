// The <devices> part of DomainXmlParser.
#include <algorithm>
#include <regex>
#include <set>

#include "ConfError.h"
#include "DomainXmlParserParts.h"
#include "i18n.h"

namespace mica::conf::detail {

namespace {

std::optional<PciAddress> parseAddress(ElementReader& dev)
{
    xmlNode* a = dev.child("address");
    if (!a)
        return std::nullopt;
    ElementReader addr(a, dev.context());
    std::string type = addr.requireAttr("type");
    if (type != "pci")
        unsupported(subst(_("%1: address type '%2' is not supported by mica (only pci)"), {dev.context(), type}));
    auto domain = addr.number("domain").value_or(0);
    auto bus = addr.number("bus").value_or(0);
    auto slot = addr.number("slot");
    auto function = addr.number("function").value_or(0);
    addr.attrOneOf("multifunction", {"off"});
    addr.finish();
    if (!slot)
        invalidXml(subst(_("%1: PCI address without a slot"), {dev.context()}));
    if (domain != 0 || bus != 0 || function != 0 || *slot == 0 || *slot > 31)
        unsupported(subst(_("%1: PCI address %2 is not supported by mica: devices sit on bus 0, slots 1-31, "
                            "function 0"),
                          {dev.context(), std::to_string(domain) + ":" + std::to_string(bus) + ":" +
                                              std::to_string(*slot) + "." + std::to_string(function)}));
    return PciAddress{unsigned(*slot)};
}

// <alias name>: any name in status XML (the daemon's own, read back), of which
// DomainDefaults keeps only "ua-" ones in a definition. It becomes a VMM device id,
// so it is held to the characters such an id may have.
std::string parseAlias(ElementReader& dev)
{
    xmlNode* a = dev.child("alias");
    if (!a)
        return "";
    ElementReader alias(a, dev.context());
    std::string name = alias.requireAttr("name");
    alias.finish();
    static const std::regex valid("[A-Za-z0-9_-]{1,64}");
    if (!std::regex_match(name, valid) || name == "ua-")
        invalidXml(subst(_("%1: invalid alias '%2' (letters, digits, '_' and '-', at most 64)"), {dev.context(), name}));
    return name;
}

CharSource parseCharSource(ElementReader& el)
{
    CharSource src;
    std::string type = el.attr("type").value_or("pty");
    xmlNode* s = el.child("source");
    std::optional<ElementReader> source;
    if (s)
        source.emplace(s, el.context());
    if (type == "pty") {
        src.type = CharSource::Type::Pty;
        if (source)
            src.path = source->attr("path").value_or("");
    } else if (type == "file" || type == "unix") {
        src.type = type == "file" ? CharSource::Type::File : CharSource::Type::Unix;
        if (!source || !(src.path = source->attr("path").value_or("")).size())
            invalidXml(subst(_("%1: type '%2' needs <source path>"), {el.context(), type}));
        if (type == "unix") {
            // mica-vmm listens on the socket; it never connects out.
            auto mode = source->attr("mode").value_or("connect");
            if (mode != "bind")
                unsupported(subst(_("%1: unix socket mode '%2' is not supported by mica (only bind)"),
                                  {el.context(), mode}));
        } else {
            source->attrOneOf("append", {"off"});
        }
        if (src.path[0] != '/')
            invalidXml(subst(_("%1: '%2' is not an absolute path"), {el.context(), src.path}));
    } else {
        unsupported(subst(_("%1: character device type '%2' is not supported by mica"), {el.context(), type}));
    }
    if (source)
        source->finish();
    return src;
}

void parseSerial(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "serial");
    if (def.serial)
        unsupported(_("more than one serial port is not supported by mica (it has COM1 only)"));
    SerialDef serial{parseCharSource(el)};
    if (xmlNode* t = el.child("target")) {
        ElementReader target(t, "serial");
        target.attrOneOf("type", {"isa-serial"});
        if (auto port = target.number("port"); port && *port != 0)
            unsupported(_("serial port other than 0 is not supported by mica (it has COM1 only)"));
        if (xmlNode* m = target.child("model")) {
            ElementReader model(m, "serial");
            model.attrOneOf("name", {"isa-serial"});
            model.finish();
        }
        target.finish();
    }
    el.finish();
    def.serial = serial;
}

void parseConsole(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "console");
    CharSource src = parseCharSource(el);
    std::string targetType = "serial";
    if (xmlNode* t = el.child("target")) {
        ElementReader target(t, "console");
        targetType = target.attrOneOf("type", {"serial", "virtio"}).value_or("serial");
        if (auto port = target.number("port"); port && *port != 0)
            unsupported(_("console port other than 0 is not supported by mica"));
        target.finish();
    }
    if (targetType == "virtio") {
        // Only the serial console's pty is reported and reachable through virsh console.
        if (src.type == CharSource::Type::Pty)
            unsupported(_("a virtio console on a pty is not supported by mica: give it a file or unix source, "
                          "or use a serial console"));
        if (def.console)
            unsupported(_("more than one virtio console is not supported by mica"));
        // A virtio console has no address of its own in libvirt XML (it would sit on a
        // virtio-serial controller); mica gives it its own slot, see docs/domain-xml.md.
        def.console = ConsoleDef{src, std::nullopt, parseAlias(el)};
    } else {
        if (def.consoleOnSerial)
            unsupported(_("more than one serial console is not supported by mica"));
        def.consoleOnSerial = true;
        if (!def.serial) {
            def.serial = SerialDef{src};  // libvirt's rule: a serial console implies the serial port
        } else if (def.serial->source.type != src.type ||
                   (src.type != CharSource::Type::Pty && def.serial->source.path != src.path)) {
            unsupported(_("a serial console must use the same source as serial port 0"));
        }
    }
    el.finish();
}

// <iotune>: each child one of IoLimits' fields, a number; the whole checked by the rules
// libvirt has (the VMM checks them again).
IoLimits parseIoTune(xmlNode* node, const std::string& context)
{
    ElementReader el(node, context + " iotune");
    IoLimits limits;
    std::set<std::string> seen;
    for (xmlNode* c : el.remainingChildren()) {
        el.consume(c);
        std::string name = nodeName(c);
        if (!seen.insert(name).second)
            invalidXml(subst(_("%1: <%2> given twice"), {el.context(), name}));
        auto field = std::find_if(kIoLimitFields.begin(), kIoLimitFields.end(),
                                  [&](const IoLimitField& f) { return name == f.name; });
        if (field == kIoLimitFields.end())
            unsupported(subst(_("%1: <iotune><%2> is not supported by mica"), {context, name}));
        ElementReader value(c, el.context() + " " + name);
        std::string text = value.text();
        value.finish();
        if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos)
            invalidXml(subst(_("%1: invalid number '%2'"), {value.context(), text}));
        fieldOf(limits, *field) = std::stoull(text);
    }
    el.finish();
    if (auto problem = ioLimitsProblem(limits); !problem.empty())
        invalidXml(el.context() + ": " + problem);
    return limits;
}

void parseDisk(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "disk");
    DiskDef disk;
    if (xmlNode* t = el.child("target")) {
        ElementReader target(t, "disk");
        disk.target = target.requireAttr("dev");
        el.setContext("disk '" + disk.target + "'");
        target.setContext(el.context());
        target.attrOneOf("bus", {"virtio"});
        target.finish();
    } else {
        invalidXml(_("disk: missing <target dev>"));
    }
    static const std::regex vd("vd[a-z]{1,3}");
    if (!std::regex_match(disk.target, vd))
        unsupported(subst(_("%1: only virtio disks named vdX are supported by mica"), {el.context()}));
    std::string type = el.attr("type").value_or("file");
    if (type != "file" && type != "block")
        unsupported(subst(_("%1: disk type '%2' is not supported by mica"), {el.context(), type}));
    disk.type = type == "file" ? DiskDef::Type::File : DiskDef::Type::Block;
    if (auto dev = el.attr("device"); dev && *dev != "disk")
        unsupported(subst(_("%1: disk device '%2' is not supported by mica"), {el.context(), *dev}));
    disk.model = el.attrOneOf("model", {"virtio"});
    if (xmlNode* d = el.child("driver")) {
        ElementReader drv(d, el.context());
        drv.attrOneOf("name", {"qemu"});
        // No type is raw, as libvirt's QEMU driver has it (it probes no image's format).
        if (auto f = drv.attr("type")) {
            auto format = diskFormatFromName(*f);
            if (!format)
                unsupported(subst(_("%1: disk format '%2' is not supported by mica (raw, qcow2, vpc)"),
                                  {el.context(), *f}));
            disk.format = *format;
        }
        disk.cache = drv.attrOneOf("cache", {"none", "writeback", "default"});
        disk.io = drv.attrOneOf("io", {"threads"});
        disk.discard = drv.attrOneOf("discard", {"unmap", "ignore"});
        if (auto q = drv.number("queues")) {
            if (*q == 0 || *q > 64)
                invalidXml(subst(_("%1: invalid queues='%2'"), {el.context(), std::to_string(*q)}));
            disk.queues = unsigned(*q);
        }
        drv.finish();
    }
    xmlNode* s = el.child("source");
    if (!s)
        unsupported(subst(_("%1: a disk without a source is not supported by mica"), {el.context()}));
    ElementReader source(s, el.context());
    disk.source = source.attr(disk.type == DiskDef::Type::File ? "file" : "dev").value_or("");
    source.finish();
    if (disk.source.empty() || disk.source[0] != '/')
        invalidXml(subst(_("%1: the source must be an absolute path"), {el.context()}));
    // Without backingStoreInput, libvirt ignores a given chain; mica refuses it rather
    // than run on another one than it says: mica-vmm follows the images' metadata.
    if (el.child("backingStore"))
        unsupported(subst(_("%1: <backingStore> is not supported by mica (no backingStoreInput): the backing "
                            "chain is the one the images' metadata name, read when the domain starts"),
                          {el.context()}));
    disk.readonly = el.child("readonly") != nullptr;
    disk.shareable = el.child("shareable") != nullptr;
    if (xmlNode* sn = el.child("serial"))
        disk.serial = nodeText(sn);
    if (disk.serial.size() > 20)
        unsupported(subst(_("%1: a serial longer than 20 characters does not fit a virtio-blk ID"), {el.context()}));
    if (xmlNode* io = el.child("iotune"))
        disk.iotune = parseIoTune(io, el.context());
    disk.address = parseAddress(el);
    disk.alias = parseAlias(el);
    el.finish();
    for (const auto& d : def.disks)
        if (d.target == disk.target)
            invalidXml(subst(_("target '%1' duplicated for disk sources '%2' and '%3'"),
                           {disk.target, d.source, disk.source}));
    def.disks.push_back(disk);
}

void parseInterface(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "interface");
    NetDef net;
    std::string type = el.requireAttr("type");
    if (type == "ethernet")
        net.type = NetDef::Type::Ethernet;
    else if (type == "bridge")
        net.type = NetDef::Type::Bridge;
    else
        unsupported(subst(_("interface type '%1' is not supported by mica"), {type}));
    if (xmlNode* m = el.child("mac")) {
        ElementReader mac(m, "interface");
        net.mac = mac.requireAttr("address");
        mac.finish();
        static const std::regex macRe("([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}");
        if (!std::regex_match(net.mac, macRe))
            invalidXml(subst(_("unable to parse mac address '%1'"), {net.mac}));
        for (char& c : net.mac)
            c = char(std::tolower(static_cast<unsigned char>(c)));
        if (std::stoi(net.mac.substr(0, 2), nullptr, 16) & 1)
            invalidXml(subst(_("expected unicast mac address, found multicast '%1'"), {net.mac}));
    }
    if (xmlNode* s = el.child("source")) {
        ElementReader source(s, "interface");
        if (net.type != NetDef::Type::Bridge)
            unsupported(_("interface type 'ethernet' with a <source> is not supported by mica"));
        net.bridge = source.requireAttr("bridge");
        source.finish();
    } else if (net.type == NetDef::Type::Bridge) {
        invalidXml(_("interface type 'bridge' needs <source bridge>"));
    }
    if (xmlNode* t = el.child("target")) {
        ElementReader target(t, "interface");
        net.targetDev = target.requireAttr("dev");
        target.finish();
        static const std::regex ifname("[A-Za-z0-9_.:-]{1,15}");
        if (!std::regex_match(net.targetDev, ifname))
            invalidXml(subst(_("interface: invalid target dev '%1'"), {net.targetDev}));
    }
    if (xmlNode* m = el.child("model")) {
        ElementReader model(m, "interface");
        std::string t = model.requireAttr("type");
        if (t != "virtio")
            unsupported(subst(_("interface model '%1' is not supported by mica (only virtio)"), {t}));
        model.finish();
    }
    if (xmlNode* m = el.child("mtu")) {
        ElementReader mtu(m, "interface");
        auto size = mtu.number("size");
        if (!size || *size < 68 || *size > 65535)
            invalidXml(_("interface: invalid mtu size"));
        net.mtu = unsigned(*size);
        mtu.finish();
    }
    if (xmlNode* d = el.child("driver")) {
        ElementReader drv(d, "interface");
        if (auto q = drv.number("queues")) {
            if (*q == 0 || *q > 64)
                invalidXml(_("interface: invalid driver queues"));
            net.queues = unsigned(*q);
        }
        drv.finish();
    }
    net.address = parseAddress(el);
    net.alias = parseAlias(el);
    el.finish();
    def.nets.push_back(net);
}

void parseRng(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "rng");
    if (def.rng)
        unsupported(_("more than one rng device is not supported by mica"));
    std::string model = el.requireAttr("model");
    if (model != "virtio")
        unsupported(subst(_("rng model '%1' is not supported by mica"), {model}));
    RngDef rng;
    xmlNode* b = el.child("backend");
    if (!b)
        invalidXml(_("rng: missing <backend>"));
    ElementReader backend(b, "rng");
    std::string bm = backend.requireAttr("model");
    if (bm != "random")
        unsupported(subst(_("rng backend '%1' is not supported by mica"), {bm}));
    std::string path = backend.text();
    if (!path.empty())
        rng.backend = path;
    backend.finish();
    if (rng.backend != "/dev/urandom" && rng.backend != "/dev/random")
        unsupported(subst(_("rng backend source '%1' is not supported by mica"), {rng.backend}));
    rng.address = parseAddress(el);
    rng.alias = parseAlias(el);
    el.finish();
    def.rng = rng;
}

void parseMemballoon(xmlNode* node, DomainDef& def, bool& seen)
{
    ElementReader el(node, "memballoon");
    if (seen)
        unsupported(_("more than one memballoon is not supported by mica"));
    seen = true;
    std::string model = el.requireAttr("model");
    if (model == "none") {
        def.balloon.present = false;
    } else if (model == "virtio") {
        def.balloon.present = true;
        if (auto fpr = el.onOff("freePageReporting")) {
            def.balloon.freePageReporting = *fpr;
            def.balloon.freePageReportingGiven = true;
        }
        def.balloon.autodeflate = el.onOff("autodeflate");
        def.balloon.address = parseAddress(el);
        def.balloon.alias = parseAlias(el);
    } else {
        unsupported(subst(_("memballoon model '%1' is not supported by mica"), {model}));
    }
    el.finish();
}

void parseVsock(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "vsock");
    if (def.vsock)
        unsupported(_("more than one vsock device is not supported by mica"));
    el.attrOneOf("model", {"virtio"});
    VsockDef vsock;
    if (xmlNode* c = el.child("cid")) {
        ElementReader cid(c, "vsock");
        vsock.autoCid = cid.yesNo("auto").value_or(false);
        auto address = cid.number("address");
        if (address) {
            if (*address < 3 || *address > 0xfffffffeull)
                invalidXml(subst(_("vsock: invalid cid %1 (must be at least 3)"), {std::to_string(*address)}));
            vsock.cid = unsigned(*address);
        } else if (!vsock.autoCid) {
            invalidXml(_("vsock: cid auto='no' needs an address"));
        }
        cid.finish();
    }
    vsock.address = parseAddress(el);
    vsock.alias = parseAlias(el);
    el.finish();
    def.vsock = vsock;
}

void parseController(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "controller");
    ControllerDef c;
    c.type = el.requireAttr("type");
    c.model = el.attr("model").value_or("");
    if (auto i = el.number("index"))
        c.index = unsigned(*i);
    if (c.type == "pci") {
        if (c.model != "pcie-root" && c.model != "pci-root")
            unsupported(subst(_("PCI controller model '%1' is not supported by mica (it has one root bus)"), {c.model}));
        if (c.index.value_or(0) != 0)
            unsupported(_("PCI controllers other than the root (index 0) are not supported by mica"));
        def.pciRootModel = c.model;
    } else if (c.type == "usb") {
        // Kept so that virt-install's defaults define; no USB device can use it (all are
        // refused), so the guest misses nothing it was promised. See docs/domain-xml.md.
        static const char* models[] = {"none", "qemu-xhci", "nec-xhci", "piix3-uhci", "ich9-ehci1",
                                       "ich9-uhci1", "ich9-uhci2", "ich9-uhci3"};
        bool known = false;
        for (const char* m : models)
            known = known || c.model == m;
        if (!known)
            unsupported(subst(_("USB controller model '%1' is not supported by mica"), {c.model}));
        if (auto p = el.number("ports"))
            c.ports = unsigned(*p);
        if (xmlNode* m = el.child("master")) {
            ElementReader master(m, "controller");
            c.masterStartport = unsigned(master.number("startport").value_or(0));
            master.finish();
        }
        def.usbControllers.push_back(c);
    } else {
        unsupported(subst(_("controller type '%1' is not supported by mica"), {c.type}));
    }
    el.finish();
}

void parseVideo(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "video");
    xmlNode* m = el.child("model");
    std::string type = "default";
    if (m) {
        ElementReader model(m, "video");
        type = model.requireAttr("type");
        if (type == "none")
            model.finish();
    }
    if (type != "none")
        unsupported(subst(_("video device '%1' is not supported by mica"), {type}));
    el.finish();
    def.videoNone = true;
}

}  // namespace

bool parseHotpluggable(xmlNode* node, DomainDef& def)
{
    std::string n = nodeName(node);
    if (n == "disk")
        parseDisk(node, def);
    else if (n == "interface")
        parseInterface(node, def);
    else if (n == "console")
        parseConsole(node, def);
    else if (n == "rng")
        parseRng(node, def);
    else if (n == "vsock")
        parseVsock(node, def);
    else
        return false;
    return true;
}

void parseDevices(ElementReader& devices, DomainDef& def)
{
    bool balloonSeen = false;
    // <serial> first: a serial <console> refers to it (or implies it when absent).
    for (xmlNode* c : devices.children("serial"))
        parseSerial(c, def);
    for (xmlNode* c : devices.remainingChildren()) {
        devices.consume(c);
        std::string n = nodeName(c);
        if (parseHotpluggable(c, def))
            continue;
        if (n == "emulator")
            def.emulator = nodeText(c);
        else if (n == "memballoon")
            parseMemballoon(c, def, balloonSeen);
        else if (n == "controller")
            parseController(c, def);
        else if (n == "video")
            parseVideo(c, def);
        else if (n == "watchdog")
            unsupported(_("watchdog devices are not supported by mica yet"));
        else
            refuseDevice(c);
    }
    devices.finish();
}

void refuseDevice(xmlNode* node)
{
    std::string n = nodeName(node);
    ElementReader other(node, n);
    auto kind = other.attr("type");
    if (!kind)
        kind = other.attr("model");
    if (kind)
        unsupported(subst(_("%1 device '%2' is not supported by mica"), {n, *kind}));
    unsupported(subst(_("%1 devices are not supported by mica"), {n}));
}

}  // namespace mica::conf::detail
