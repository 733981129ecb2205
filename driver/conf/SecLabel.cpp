#include "SecLabel.h"

#include <grp.h>
#include <libvirt/virterror.h>
#include <pwd.h>

#include <cstdlib>

#include "ConfError.h"
#include "i18n.h"

namespace mica::conf {

namespace {

// "+N" or a name, looked up with `byName`; nullopt when neither resolves.
template <typename Id, typename Lookup>
std::optional<Id> resolveId(const std::string& text, Lookup byName)
{
    if (text.size() > 1 && text[0] == '+' && text.find_first_not_of("0123456789", 1) == std::string::npos &&
        text.size() <= 11) {
        unsigned long long v = std::strtoull(text.c_str() + 1, nullptr, 10);
        if (v < 0xffffffffull)
            return static_cast<Id>(v);
        return std::nullopt;
    }
    return byName(text);
}

}  // namespace

void parseSecLabel(ElementReader& domain, DomainDef& def)
{
    auto labels = domain.children("seclabel");
    if (labels.size() > 1)
        unsupported(_("only one <seclabel> is supported by mica (model 'dac')"));
    if (labels.empty())
        return;
    ElementReader el(labels[0], "seclabel");
    auto type = el.attrOneOf("type", {"static", "dynamic", "none"}).value_or("dynamic");
    if (type == "none")
        unsupported(_("seclabel type 'none' is not supported by mica: every VMM runs confined"));
    auto model = el.attr("model").value_or("dac");
    if (model != "dac")
        unsupported(subst(_("seclabel model '%1' is not supported by mica (only 'dac')"), {model}));
    if (el.yesNo("relabel").value_or(true) == false)
        unsupported(_("seclabel relabel='no' is not supported by mica: the VMM always gets its run directory"));
    SecLabelDef label;
    label.isStatic = type == "static";
    xmlNode* text = el.child("label");
    if (label.isStatic) {
        if (!text)
            invalidXml(_("seclabel: type 'static' needs a <label>"));
        label.label = ElementReader(text, "seclabel/label").text();
        auto colon = label.label.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == label.label.size())
            invalidXml(subst(_("seclabel: DAC label '%1' is not USER:GROUP"), {label.label}));
    }
    // A dynamic label's <label> and <imagelabel> are what a live XML shows: output.
    el.child("imagelabel");
    el.finish();
    def.seclabel = label;
}

void formatSecLabel(const DomainDef& def, bool live, xmlNode* domain)
{
    if (!def.seclabel)
        return;
    const SecLabelDef& s = *def.seclabel;
    xmlNode* node = xmlNewChild(domain, nullptr, BAD_CAST "seclabel", nullptr);
    xmlSetProp(node, BAD_CAST "type", BAD_CAST(s.isStatic ? "static" : "dynamic"));
    xmlSetProp(node, BAD_CAST "model", BAD_CAST "dac");
    xmlSetProp(node, BAD_CAST "relabel", BAD_CAST "yes");
    if (!s.label.empty() && (s.isStatic || live))
        xmlNewTextChild(node, nullptr, BAD_CAST "label", BAD_CAST s.label.c_str());
}

std::pair<uid_t, gid_t> resolveDacLabel(const std::string& label)
{
    auto colon = label.find(':');
    std::string userName = label.substr(0, colon), groupName = colon == std::string::npos ? "" : label.substr(colon + 1);
    auto uid = resolveId<uid_t>(userName, [](const std::string& n) -> std::optional<uid_t> {
        const passwd* p = ::getpwnam(n.c_str());
        return p ? std::optional<uid_t>(p->pw_uid) : std::nullopt;
    });
    auto gid = resolveId<gid_t>(groupName, [](const std::string& n) -> std::optional<gid_t> {
        const struct group* g = ::getgrnam(n.c_str());
        return g ? std::optional<gid_t>(g->gr_gid) : std::nullopt;
    });
    if (!uid || !gid)
        throw ConfError(VIR_ERR_INVALID_ARG,
                        subst(_("seclabel: '%1' does not name a user and a group of this host"), {label}));
    if (*uid == 0 || *gid == 0)
        throw ConfError(VIR_ERR_CONFIG_UNSUPPORTED,
                        subst(_("seclabel: '%1' is root's; a VMM never runs as root"), {label}));
    return {*uid, *gid};
}

std::string dacLabel(uid_t uid, gid_t gid)
{
    return "+" + std::to_string(uid) + ":+" + std::to_string(gid);
}

}  // namespace mica::conf
