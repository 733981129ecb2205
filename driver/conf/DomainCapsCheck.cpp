#include "DomainCapsCheck.h"

#include <libxml/xpath.h>

#include <memory>
#include <vector>

#include "ConfError.h"
#include "Xml.h"
#include "i18n.h"

namespace mica::conf {

namespace {

struct XPathContextFree { void operator()(xmlXPathContext* c) const { xmlXPathFreeContext(c); } };
struct XPathObjectFree { void operator()(xmlXPathObject* o) const { xmlXPathFreeObject(o); } };

class DomainCaps {
public:
    explicit DomainCaps(const std::string& xml)
        : doc_(parseXmlDocument(xml, "(domain_capabilities)")), ctx_(xmlXPathNewContext(doc_.get()))
    {
    }

    // The text of every node `path` selects (attributes and elements alike).
    std::vector<std::string> values(const std::string& path) const
    {
        std::unique_ptr<xmlXPathObject, XPathObjectFree> r(
            xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(path.c_str()), ctx_.get()));
        std::vector<std::string> out;
        if (!r || !r->nodesetval)
            return out;
        for (int i = 0; i < r->nodesetval->nodeNr; ++i) {
            XmlCharPtr text(xmlNodeGetContent(r->nodesetval->nodeTab[i]));
            out.emplace_back(text ? reinterpret_cast<const char*>(text.get()) : "");
        }
        return out;
    }

    bool has(const std::string& path, const std::string& value) const
    {
        for (const auto& v : values(path))
            if (v == value)
                return true;
        return false;
    }

    // `value` must be one of the <value>s of <enum name=NAME> under `section`.
    void requireEnum(const char* section, const char* name, const std::string& value, const std::string& what) const
    {
        std::string path = std::string("/domainCapabilities/") + section + "/enum[@name='" + name + "']/value";
        if (!has(path, value))
            unsupported(subst(_("%1 '%2' is not supported by this host (domain capabilities do not list it)"),
                              {what, value}));
    }

private:
    XmlDocPtr doc_;
    std::unique_ptr<xmlXPathContext, XPathContextFree> ctx_;
};

const char* cpuModeName(CpuDef::Mode mode)
{
    switch (mode) {
    case CpuDef::Mode::HostPassthrough: return "host-passthrough";
    case CpuDef::Mode::Maximum: return "maximum";
    case CpuDef::Mode::None: break;
    }
    return nullptr;
}

}  // namespace

void checkAgainstDomainCaps(const DomainDef& def, const std::string& domainCapsXml)
{
    DomainCaps caps(domainCapsXml);

    auto max = caps.values("/domainCapabilities/vcpu/@max");
    if (!max.empty() && def.vcpusMax > std::stoul(max.front()))
        unsupported(subst(_("%1 vCPUs are more than this host supports (domain capabilities: vcpu max %2)"),
                          {std::to_string(def.vcpusMax), max.front()}));

    if (const char* mode = cpuModeName(def.cpu.mode);
        mode && !caps.has(std::string("/domainCapabilities/cpu/mode[@name='") + mode + "']/@supported", "yes"))
        unsupported(subst(_("cpu mode '%1' is not supported by this host (domain capabilities: supported='no'; "
                            "is /dev/kvm there?)"), {mode}));

    if (!def.memoryBacking.source.empty())
        caps.requireEnum("memoryBacking", "sourceType", def.memoryBacking.source, _("memoryBacking source type"));

    for (const auto& d : def.disks) {
        caps.requireEnum("devices/disk", "diskDevice", "disk", _("disk device"));
        caps.requireEnum("devices/disk", "bus", "virtio", _("disk bus"));
        if (d.model)
            caps.requireEnum("devices/disk", "model", *d.model, _("disk model"));
    }
    if (def.rng) {
        caps.requireEnum("devices/rng", "model", "virtio", _("rng model"));
        caps.requireEnum("devices/rng", "backendModel", "random", _("rng backend model"));
    }
}

}  // namespace mica::conf
