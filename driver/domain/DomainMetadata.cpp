// virsh desc and metadata (virDomainSetMetadata / GetMetadata): a domain's <title>,
// <description> and namespaced <metadata> elements, live and/or in its definition.
#include <libvirt/libvirt.h>

#include "DomainManager.h"
#include "ManagerSupport.h"
#include "Metadata.h"
#include "i18n.h"

namespace mica::domain {

namespace {

void checkType(int type)
{
    if (type != VIR_DOMAIN_METADATA_DESCRIPTION && type != VIR_DOMAIN_METADATA_TITLE &&
        type != VIR_DOMAIN_METADATA_ELEMENT)
        fail(VIR_ERR_INVALID_ARG, conf::subst(_("unknown metadata type '%1'"), {std::to_string(type)}));
}

// What SetMetadata does to one definition. The element is prepared once by the caller
// (`element`: the namespaced XML, or nullopt to remove the namespace's).
void applyMetadata(conf::DomainDef& def, int type, const std::optional<std::string>& text,
                   const std::optional<std::string>& element, const std::string& uri)
{
    switch (type) {
    case VIR_DOMAIN_METADATA_DESCRIPTION: def.description = text.value_or(""); break;
    case VIR_DOMAIN_METADATA_TITLE: def.title = text.value_or(""); break;
    default: {
        auto at = conf::findMetadata(def.metadata, uri);
        if (element && at)
            def.metadata[*at] = *element;
        else if (element)
            def.metadata.push_back(*element);
        else if (at)
            def.metadata.erase(def.metadata.begin() + static_cast<std::ptrdiff_t>(*at));
    }
    }
}

}  // namespace

void DomainManager::setMetadata(const rpc::DomainRef& dom, int type, const std::optional<std::string>& metadata,
                                const std::optional<std::string>& key, const std::optional<std::string>& uri,
                                unsigned flags)
{
    checkType(type);
    Domain& d = find(dom);
    AffectTargets target = affectTargets(d, flags);
    std::optional<std::string> text = metadata && !metadata->empty() ? metadata : std::nullopt;
    std::optional<std::string> element;
    if (type == VIR_DOMAIN_METADATA_ELEMENT) {
        if (!uri)
            fail(VIR_ERR_INVALID_ARG, _("a metadata element needs a namespace URI"));
        if (text && !key)
            fail(VIR_ERR_INVALID_ARG, _("a metadata element needs a key (its namespace prefix)"));
        if (text) {
            try {
                element = conf::namespacedElement(*text, *key, *uri);
            } catch (const conf::ConfError& e) {
                failConf(e);
            }
        }
    } else if (uri) {
        fail(VIR_ERR_INVALID_ARG, _("only a metadata element has a namespace URI"));
    } else if (type == VIR_DOMAIN_METADATA_TITLE && text && text->find('\n') != std::string::npos) {
        fail(VIR_ERR_INVALID_ARG, _("title can't contain newlines"));
    }
    const std::string ns = uri.value_or("");
    // What is accepted must still fit a reply and the status file, as at define.
    auto apply = [&](conf::DomainDef& def) {
        applyMetadata(def, type, text, element, ns);
        checkFormattedSize(def);
    };
    if (target.live) {
        conf::DomainDef changed = d.live;
        apply(changed);
        d.live = std::move(changed);
        saveStatus(d);
    }
    if (target.config)
        editDefinition(d, apply);
    if (hooks_.metadata)
        hooks_.metadata(ref(d), type, uri);
}

std::string DomainManager::metadata(const rpc::DomainRef& dom, int type, const std::optional<std::string>& uri,
                                    unsigned flags) const
{
    checkType(type);
    Domain& d = find(dom);
    const conf::DomainDef& def = affectsLive(d, flags) ? d.live : d.persistentDef();
    if (type == VIR_DOMAIN_METADATA_ELEMENT && !uri)
        fail(VIR_ERR_INVALID_ARG, _("a metadata element needs a namespace URI"));
    if (type != VIR_DOMAIN_METADATA_ELEMENT && uri)
        fail(VIR_ERR_INVALID_ARG, _("only a metadata element has a namespace URI"));
    std::string out;
    if (type == VIR_DOMAIN_METADATA_DESCRIPTION)
        out = def.description;
    else if (type == VIR_DOMAIN_METADATA_TITLE)
        out = def.title;
    else if (auto at = conf::findMetadata(def.metadata, *uri))
        out = def.metadata[*at];
    if (out.empty())
        fail(VIR_ERR_NO_DOMAIN_METADATA, _("Requested metadata element is not present"));
    return out;
}

}  // namespace mica::domain
