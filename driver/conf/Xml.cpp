#include "Xml.h"

#include <cerrno>
#include <cstdlib>

#include "ConfError.h"
#include "i18n.h"

namespace mica::conf {

namespace {

std::string trimmed(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

}  // namespace

XmlDocPtr parseXmlDocument(const std::string& xml, const char* url)
{
    std::unique_ptr<xmlParserCtxt, XmlParserCtxtFree> ctxt(xmlNewParserCtxt());
    if (!ctxt)
        throw ConfError(VIR_ERR_INTERNAL_ERROR, _("cannot allocate an XML parser"));
    if (xml.size() > kMaxDocumentSize)
        invalidXml(_("the document is too large"));
    // NONET and no NOENT: external entities are never fetched or substituted.
    XmlDocPtr doc(xmlCtxtReadMemory(ctxt.get(), xml.data(), int(xml.size()), url, nullptr,
                                    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOWARNING | XML_PARSE_NOERROR));
    if (!doc || !ctxt->wellFormed) {
        const xmlError* err = xmlCtxtGetLastError(ctxt.get());
        std::string msg = err && err->message ? trimmed(err->message) : std::string(_("malformed document"));
        int line = err ? err->line : 0;
        invalidXml(subst(_("%1:%2: %3"), {url, std::to_string(line), msg}));
    }
    // Entities are a way to make a small document expand enormously (or to read files);
    // no domain XML needs a DTD, so none is accepted.
    if (doc->intSubset || doc->extSubset)
        invalidXml(_("document type declarations (DOCTYPE) are not supported"));
    if (!xmlDocGetRootElement(doc.get()))
        invalidXml(_("missing root element"));
    return doc;
}

std::string serializeElement(xmlNode* node)
{
    XmlDocPtr tmp(xmlNewDoc(BAD_CAST "1.0"));
    xmlNode* copy = xmlDocCopyNode(node, tmp.get(), 1);
    xmlDocSetRootElement(tmp.get(), copy);
    xmlReconciliateNs(tmp.get(), copy);
    XmlBufferPtr buf(xmlBufferCreate());
    xmlNodeDump(buf.get(), tmp.get(), copy, 0, 0);
    return std::string(reinterpret_cast<const char*>(xmlBufferContent(buf.get())), size_t(xmlBufferLength(buf.get())));
}

std::string nodeName(xmlNode* node)
{
    return reinterpret_cast<const char*>(node->name);
}

std::string nodeText(xmlNode* node)
{
    XmlCharPtr c(xmlNodeGetContent(node));
    return c ? std::string(reinterpret_cast<const char*>(c.get())) : std::string();
}

ElementReader::ElementReader(xmlNode* node, std::string context) : node_(node), context_(std::move(context)) {}

std::string ElementReader::name() const
{
    return nodeName(node_);
}

std::optional<std::string> ElementReader::attr(const char* name)
{
    consumedAttrs_.insert(name);
    XmlCharPtr v(xmlGetNoNsProp(node_, BAD_CAST name));
    if (!v)
        return std::nullopt;
    return std::string(reinterpret_cast<const char*>(v.get()));
}

std::string ElementReader::requireAttr(const char* name)
{
    auto v = attr(name);
    if (!v)
        invalidXml(subst(_("%1: <%2> is missing the '%3' attribute"), {context_, this->name(), name}));
    return *v;
}

std::optional<std::string> ElementReader::attrOneOf(const char* name, std::initializer_list<const char*> allowed)
{
    auto v = attr(name);
    if (!v)
        return v;
    for (const char* a : allowed)
        if (*v == a)
            return v;
    unsupported(subst(_("%1: %2='%3' is not supported by mica"), {context_, name, *v}));
}

std::optional<bool> ElementReader::yesNo(const char* name)
{
    auto v = attr(name);
    if (!v)
        return std::nullopt;
    if (*v == "yes")
        return true;
    if (*v == "no")
        return false;
    invalidXml(subst(_("%1: invalid %2='%3' (expected yes or no)"), {context_, name, *v}));
}

std::optional<bool> ElementReader::onOff(const char* name)
{
    auto v = attr(name);
    if (!v)
        return std::nullopt;
    if (*v == "on")
        return true;
    if (*v == "off")
        return false;
    invalidXml(subst(_("%1: invalid %2='%3' (expected on or off)"), {context_, name, *v}));
}

std::optional<unsigned long long> ElementReader::number(const char* name)
{
    auto v = attr(name);
    if (!v)
        return std::nullopt;
    errno = 0;
    char* end = nullptr;
    unsigned long long n = std::strtoull(v->c_str(), &end, 0);
    if (v->empty() || (*v)[0] == '-' || errno || *end)
        invalidXml(subst(_("%1: invalid %2='%3' (expected a number)"), {context_, name, *v}));
    return n;
}

std::vector<xmlNode*> ElementReader::children(const char* name)
{
    std::vector<xmlNode*> out;
    for (xmlNode* c = node_->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST name)) {
            out.push_back(c);
            consumedChildren_.insert(c);
        }
    }
    return out;
}

xmlNode* ElementReader::child(const char* name)
{
    auto all = children(name);
    if (all.size() > 1)
        unsupported(subst(_("%1: more than one <%2> is not supported by mica"), {context_, name}));
    return all.empty() ? nullptr : all.front();
}

std::vector<xmlNode*> ElementReader::remainingChildren()
{
    std::vector<xmlNode*> out;
    for (xmlNode* c = node_->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !consumedChildren_.count(c))
            out.push_back(c);
    return out;
}

std::string ElementReader::text() const
{
    return nodeText(node_);
}

void ElementReader::finish()
{
    for (xmlAttr* a = node_->properties; a; a = a->next) {
        std::string n = reinterpret_cast<const char*>(a->name);
        if (!consumedAttrs_.count(n) || a->ns)
            unsupported(subst(_("%1: attribute '%2' of <%3> is not supported by mica"), {context_, n, name()}));
    }
    for (xmlNode* c : remainingChildren())
        unsupported(subst(_("%1: element <%2> is not supported by mica"), {context_, nodeName(c)}));
}

}  // namespace mica::conf
