#include "Metadata.h"

#include <libxml/tree.h>
#include <libxml/uri.h>

#include "ConfError.h"
#include "Xml.h"
#include "i18n.h"

namespace mica::conf {

std::string namespacedElement(const std::string& xml, const std::string& key, const std::string& uri)
{
    if (xmlValidateNCName(BAD_CAST key.c_str(), 0) != 0)
        invalidXml(subst(_("metadata key '%1' is not a valid XML namespace prefix"), {key}));
    XmlDocPtr doc = parseXmlDocument(xml, "metadata");
    xmlNode* root = xmlDocGetRootElement(doc.get());
    if (!root)
        invalidXml(_("metadata holds no element"));
    // libvirt replaces the element's own namespace, whatever it was, with the caller's.
    xmlNs* ns = xmlNewNs(root, BAD_CAST uri.c_str(), BAD_CAST key.c_str());
    if (!ns)
        invalidXml(subst(_("metadata namespace prefix '%1' is already in use in the element"), {key}));
    xmlSetNs(root, ns);
    return serializeElement(root);
}

std::optional<std::size_t> findMetadata(const std::vector<std::string>& metadata, const std::string& uri)
{
    for (std::size_t i = 0; i < metadata.size(); ++i) {
        XmlDocPtr doc = parseXmlDocument(metadata[i], "metadata");
        xmlNode* root = xmlDocGetRootElement(doc.get());
        if (root && root->ns && root->ns->href && uri == reinterpret_cast<const char*>(root->ns->href))
            return i;
    }
    return std::nullopt;
}

}  // namespace mica::conf
