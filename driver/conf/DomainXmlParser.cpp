#include "DomainXmlParser.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "ConfError.h"
#include "DomainXmlParserParts.h"
#include "SecLabel.h"
#include "Tuning.h"
#include "Xml.h"
#include "i18n.h"

namespace mica::conf {

using detail::completeDomainDef;
using detail::parseDevices;
using detail::parseMemoryKiB;

namespace {

const char* kDomain = "domain";

std::optional<std::string> canonicalUuid(const std::string& in)
{
    // libvirt accepts hex digits with optional dashes and surrounding blanks; we store
    // the canonical 8-4-4-4-12 lower-case form.
    std::string hex;
    for (char c : in) {
        if (std::isxdigit(static_cast<unsigned char>(c)))
            hex += char(std::tolower(static_cast<unsigned char>(c)));
        else if (c != '-' && c != ' ' && c != '\n' && c != '\t')
            return std::nullopt;
    }
    if (hex.size() != 32)
        return std::nullopt;
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
           hex.substr(20);
}

unsigned parseUnsignedText(ElementReader& el)
{
    std::string t = el.text();
    errno = 0;
    char* end = nullptr;
    unsigned long long n = std::strtoull(t.c_str(), &end, 10);
    while (end && std::isspace(static_cast<unsigned char>(*end)))
        ++end;
    if (t.empty() || t[0] == '-' || errno || !end || *end || n > 0xffffffffull)
        invalidXml(subst(_("%1: invalid number '%2' in <%3>"), {el.context(), t, el.name()}));
    return unsigned(n);
}

void parseVcpu(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "vcpu");
    def.vcpusMax = parseUnsignedText(el);
    if (auto p = el.attr("placement")) {
        if (*p != "static")
            unsupported(subst(_("vcpu placement '%1' is not supported by mica"), {*p}));
    }  // 'static' is what mica does; the formatter always writes it
    auto cur = el.number("current");
    if (cur && *cur > def.vcpusMax)
        invalidXml(subst(_("vcpu: current %1 must be between 1 and the maximum %2"),
                         {std::to_string(*cur), std::to_string(def.vcpusMax)}));
    def.vcpusCurrent = cur ? unsigned(*cur) : def.vcpusMax;
    el.finish();
    if (def.vcpusMax == 0)
        invalidXml(_("vcpu: the domain needs at least one vCPU"));
    if (def.vcpusCurrent == 0 || def.vcpusCurrent > def.vcpusMax)
        invalidXml(subst(_("vcpu: current %1 must be between 1 and the maximum %2"),
                       {std::to_string(def.vcpusCurrent), std::to_string(def.vcpusMax)}));
}

void parseCpu(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "cpu");
    auto mode = el.attr("mode");
    if (!mode || *mode == "custom") {
        // A bare <cpu> with only <topology> is libvirt's custom mode without a model.
        if (el.attr("match") || !el.children("model").empty())
            unsupported(_("cpu mode 'custom' is not supported by mica (use host-passthrough)"));
    } else if (*mode == "host-passthrough") {
        def.cpu.mode = CpuDef::Mode::HostPassthrough;
    } else if (*mode == "maximum") {
        def.cpu.mode = CpuDef::Mode::Maximum;
    } else {
        unsupported(subst(_("cpu mode '%1' is not supported by mica"), {*mode}));
    }
    def.cpu.check = el.attrOneOf("check", {"none", "partial", "full"});
    if (auto m = el.attr("migratable")) {
        if (*m != "off")
            unsupported(subst(_("cpu migratable='%1' is not supported by mica"), {*m}));
        def.cpu.migratable = m;
    }
    if (xmlNode* t = el.child("topology")) {
        ElementReader topo(t, "cpu topology");
        def.cpu.hasTopology = true;
        auto get = [&](const char* n, bool required) -> unsigned {
            auto v = topo.number(n);
            if (!v) {
                if (required)
                    invalidXml(subst(_("cpu topology: missing '%1'"), {n}));
                return 1;
            }
            if (*v == 0 || *v > 4096)
                invalidXml(subst(_("cpu topology: invalid %1='%2'"), {n, std::to_string(*v)}));
            return unsigned(*v);
        };
        def.cpu.sockets = get("sockets", true);
        def.cpu.dies = get("dies", false);
        def.cpu.cores = get("cores", true);
        def.cpu.threads = get("threads", true);
        topo.finish();
        if (def.cpu.dies != 1)
            unsupported(_("cpu topology with more than one die per socket is not supported by mica"));
    }
    for (xmlNode* c : el.remainingChildren())
        unsupported(subst(_("cpu: element <%1> is not supported by mica"), {nodeName(c)}));
    el.finish();
}

void parseOs(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "os");
    if (el.attr("firmware"))
        unsupported(_("os firmware autoselection is not supported by mica: it has no firmware"));
    xmlNode* typeNode = el.child("type");
    if (!typeNode)
        invalidXml(_("os: missing <type>"));
    ElementReader type(typeNode, "os type");
    if (std::string t = type.text(); t != "hvm")
        unsupported(subst(_("os type '%1' is not supported by mica"), {t}));
    if (auto a = type.attr("arch")) {
        if (*a != "x86_64")
            unsupported(subst(_("architecture '%1' is not supported by mica"), {*a}));
    }
    if (auto m = type.attr("machine")) {
        if (*m != "mica")
            unsupported(subst(_("machine type '%1' is not supported by mica (it has one: 'mica')"), {*m}));
    }
    type.finish();
    if (el.child("loader") || el.child("nvram"))
        unsupported(_("os loader is not supported by mica: it has no firmware, boot a kernel with <kernel>"));
    auto textOf = [&](const char* n) -> std::string {
        xmlNode* c = el.child(n);
        if (!c)
            return {};
        ElementReader r(c, "os");
        r.finish();
        return r.text();
    };
    def.os.kernel = textOf("kernel");
    def.os.initrd = textOf("initrd");
    def.os.cmdline = textOf("cmdline");
    if (def.os.kernel.empty())
        unsupported(_("a domain without <os><kernel> is not supported by mica: it has no firmware to boot a disk"));
    for (xmlNode* b : el.children("boot")) {
        ElementReader boot(b, "os boot");
        auto dev = boot.requireAttr("dev");
        unsupported(subst(_("os boot device '%1' is not supported by mica: it boots the <kernel> directly"), {dev}));
    }
    el.finish();
    if (def.os.kernel[0] != '/' || (!def.os.initrd.empty() && def.os.initrd[0] != '/'))
        invalidXml(_("os: kernel and initrd must be absolute paths"));
}

void parseFeatures(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "features");
    for (xmlNode* c : el.remainingChildren()) {
        std::string n = nodeName(c);
        ElementReader f(c, "features");
        el.consume(c);
        if (n == "acpi")
            def.acpi = true;
        else if (n == "apic")
            def.apic = true;
        else if (n == "pae")
            def.pae = true;
        else if (n == "vmport" && f.attr("state") == std::optional<std::string>("off"))
            def.vmportOff = true;
        else
            unsupported(subst(_("feature '%1' is not supported by mica"), {n}));
        f.finish();
    }
    el.finish();
}

void parseClock(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "clock");
    def.clockGiven = true;
    def.clockOffset = el.attr("offset").value_or("utc");
    if (def.clockOffset != "utc")
        unsupported(subst(_("clock offset '%1' is not supported by mica: its RTC runs in UTC"), {def.clockOffset}));
    for (xmlNode* t : el.children("timer")) {
        ElementReader timer(t, "clock timer");
        ClockTimer ct;
        ct.name = timer.requireAttr("name");
        ct.tickpolicy = timer.attr("tickpolicy").value_or("");
        ct.present = timer.attr("present").value_or("");
        timer.finish();
        // Only what mica already does: its CMOS RTC (which raises no interrupts, so no
        // tick can be lost or caught up), KVM's in-kernel PIT (which delays missed ticks
        // by default), no HPET.
        bool ok = (ct.name == "rtc" && ct.tickpolicy.empty() && ct.present != "no") ||
                  (ct.name == "pit" && (ct.tickpolicy.empty() || ct.tickpolicy == "delay") && ct.present != "no") ||
                  (ct.name == "hpet" && ct.present == "no" && ct.tickpolicy.empty());
        if (!ok)
            unsupported(subst(_("clock timer '%1' with these settings is not supported by mica (its RTC raises no periodic interrupts, so it has no tick policy; the PIT delays missed ticks; there is no HPET)"), {ct.name}));
        def.timers.push_back(ct);
    }
    el.finish();
}

LifecycleAction parseLifecycle(xmlNode* node)
{
    ElementReader el(node, nodeName(node));
    el.finish();
    std::string v = el.text();
    if (v == "destroy")
        return LifecycleAction::Destroy;
    if (v == "restart")
        return LifecycleAction::Restart;
    unsupported(subst(_("%1 action '%2' is not supported by mica"), {nodeName(node), v}));
}

void parsePm(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "pm");
    def.pmGiven = true;
    for (const char* n : {"suspend-to-mem", "suspend-to-disk"}) {
        if (xmlNode* c = el.child(n)) {
            ElementReader s(c, "pm");
            if (s.attr("enabled") != std::optional<std::string>("no"))
                unsupported(subst(_("pm %1 is not supported by mica"), {n}));
            s.finish();
        }
    }
    el.finish();
}

void parseMemoryBacking(xmlNode* node, DomainDef& def)
{
    ElementReader el(node, "memoryBacking");
    if (xmlNode* h = el.child("hugepages")) {
        ElementReader hp(h, "memoryBacking hugepages");
        if (!hp.children("page").empty())
            unsupported(_("memoryBacking: explicit huge page sizes are not supported by mica (it uses the default size)"));
        hp.finish();
        def.memoryBacking.hugepages = true;
    }
    if (xmlNode* s = el.child("source")) {
        ElementReader src(s, "memoryBacking source");
        def.memoryBacking.source = src.requireAttr("type");
        if (def.memoryBacking.source != "anonymous" && def.memoryBacking.source != "memfd")
            unsupported(subst(_("memoryBacking source type '%1' is not supported by mica"), {def.memoryBacking.source}));
        src.finish();
    }
    if (xmlNode* a = el.child("access")) {
        ElementReader acc(a, "memoryBacking access");
        def.memoryBacking.access = acc.requireAttr("mode");
        if (def.memoryBacking.access != "private" && def.memoryBacking.access != "shared")
            invalidXml(subst(_("memoryBacking: invalid access mode '%1'"), {def.memoryBacking.access}));
        acc.finish();
    }
    el.finish();
}

// A name is a file name in the daemon's directories (DomainStore.h): NAME.xml, NAME.log,
// the directory NAME/. '/' would leave the directory, '.' and '..' are directories already
// there, and a control character (a newline, an escape) would make a name that looks like
// another one in listings, logs and the files an administrator reads; libvirt refuses
// the same.
void checkDomainName(const std::string& name)
{
    bool control = std::any_of(name.begin(), name.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (!control && name.find('/') == std::string::npos && name != "." && name != "..")
        return;
    // Shown escaped: the name itself may be what makes the message unreadable.
    std::string shown;
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", u);
            shown += hex;
        } else {
            shown += c;
        }
    }
    invalidXml(subst(_("domain name '%1' cannot contain '/' or control characters, nor be '.' or '..'"), {shown}));
}

}  // namespace

uint64_t detail::parseMemoryKiB(ElementReader& el)
{
    static const std::map<std::string, uint64_t> units = {
        {"b", 1}, {"bytes", 1},
        {"KB", 1000}, {"k", 1024}, {"K", 1024}, {"KiB", 1024},
        {"MB", 1000000}, {"m", 1ull << 20}, {"M", 1ull << 20}, {"MiB", 1ull << 20},
        {"GB", 1000000000}, {"g", 1ull << 30}, {"G", 1ull << 30}, {"GiB", 1ull << 30},
        {"TB", 1000000000000}, {"t", 1ull << 40}, {"T", 1ull << 40}, {"TiB", 1ull << 40},
    };
    std::string unit = el.attr("unit").value_or("KiB");
    auto u = units.find(unit);
    if (u == units.end())
        invalidXml(subst(_("%1: unknown memory unit '%2'"), {el.name(), unit}));
    std::string t = el.text();
    errno = 0;
    char* end = nullptr;
    unsigned long long n = std::strtoull(t.c_str(), &end, 10);
    if (t.empty() || t[0] == '-' || errno || !end || *end)
        invalidXml(subst(_("%1: invalid size '%2'"), {el.name(), t}));
    if (n > (UINT64_MAX / u->second))
        invalidXml(subst(_("%1: size '%2 %3' is too large"), {el.name(), t, unit}));
    uint64_t bytes = n * u->second;
    return bytes / 1024 + (bytes % 1024 != 0);  // bytes + 1023 could wrap
}

DomainDef parseDomainXml(const std::string& xml, unsigned flags)
{
    XmlDocPtr doc = parseXmlDocument(xml, "(domain_definition)");
    if (flags & VIR_DOMAIN_DEFINE_VALIDATE)
        detail::validateAgainstSchema(doc.get(), kDomainSchemaPath);
    xmlNode* root = xmlDocGetRootElement(doc.get());
    if (nodeName(root) != kDomain)
        invalidXml(subst(_("expected root element <domain>, not <%1>"), {nodeName(root)}));

    DomainDef def;
    ElementReader el(root, kDomain);
    std::string type = el.requireAttr("type");
    if (type != "kvm")
        unsupported(subst(_("domain type '%1' is not supported by mica (use 'kvm')"), {type}));
    if (auto id = el.number("id"))
        def.id = int(*id);

    xmlNode* name = el.child("name");
    if (!name || nodeText(name).empty())
        invalidXml(_("domain: missing <name>"));
    def.name = nodeText(name);
    checkDomainName(def.name);
    if (xmlNode* u = el.child("uuid")) {
        auto c = canonicalUuid(nodeText(u));
        if (!c)
            invalidXml(subst(_("malformed uuid '%1'"), {nodeText(u)}));
        def.uuid = *c;
    }
    if (xmlNode* t = el.child("title"))
        def.title = nodeText(t);
    if (def.title.find('\n') != std::string::npos)
        invalidXml(_("domain title cannot contain newlines"));
    if (xmlNode* d = el.child("description"))
        def.description = nodeText(d);
    if (xmlNode* m = el.child("metadata")) {
        for (xmlNode* c = m->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            if (!c->ns)
                invalidXml(subst(_("metadata element <%1> needs a namespace"), {nodeName(c)}));
            def.metadata.push_back(serializeElement(c));
        }
    }

    xmlNode* mem = el.child("memory");
    if (!mem)
        invalidXml(_("domain: missing <memory>"));
    {
        ElementReader m(mem, "memory");
        def.memoryKiB = parseMemoryKiB(m);
        m.finish();
    }
    def.currentMemoryKiB = def.memoryKiB;
    if (xmlNode* cm = el.child("currentMemory")) {
        ElementReader m(cm, "currentMemory");
        def.currentMemoryKiB = parseMemoryKiB(m);
        m.finish();
    }
    if (el.child("maxMemory"))
        unsupported(_("memory hotplug (<maxMemory>) is not supported by mica"));
    // Far below what 64-bit byte counts (and the translation's rounding) can hold.
    if (def.memoryKiB > (4ull << 30))
        unsupported(_("more than 4 TiB of memory is not supported by mica"));
    if (def.memoryKiB < 16 * 1024)
        invalidXml(_("memory: mica needs at least 16 MiB"));
    if (def.currentMemoryKiB > def.memoryKiB || def.currentMemoryKiB == 0)
        invalidXml(_("currentMemory must be between 1 KiB and <memory>"));

    if (xmlNode* v = el.child("vcpu"))
        parseVcpu(v, def);
    if (xmlNode* c = el.child("cpu"))
        parseCpu(c, def);
    xmlNode* os = el.child("os");
    if (!os)
        invalidXml(_("domain: missing <os>"));
    parseOs(os, def);
    if (xmlNode* f = el.child("features"))
        parseFeatures(f, def);
    if (xmlNode* c = el.child("clock"))
        parseClock(c, def);
    if (xmlNode* a = el.child("on_poweroff"))
        def.onPoweroff = parseLifecycle(a);
    if (xmlNode* a = el.child("on_reboot"))
        def.onReboot = parseLifecycle(a);
    if (xmlNode* a = el.child("on_crash"))
        def.onCrash = parseLifecycle(a);
    if (xmlNode* p = el.child("pm"))
        parsePm(p, def);
    if (xmlNode* mb = el.child("memoryBacking"))
        parseMemoryBacking(mb, def);
    parseTuning(el, def);
    parseSecLabel(el, def);
    if (xmlNode* d = el.child("devices")) {
        ElementReader devices(d, "devices");
        parseDevices(devices, def);
    }
    for (xmlNode* c : el.remainingChildren())
        unsupported(subst(_("element <%1> is not supported by mica"), {nodeName(c)}));
    el.finish();
    completeDomainDef(def);
    return def;
}

}  // namespace mica::conf
