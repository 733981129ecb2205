// RAII for libxml2 objects, and ElementReader: reads one element strictly, remembering
// which attributes and child elements it consumed so that finish() can refuse anything
// it did not (mica never drops what a user wrote without saying so).
#pragma once

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/tree.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mica::conf {

struct XmlDocFree { void operator()(xmlDoc* d) const { xmlFreeDoc(d); } };
struct XmlNodeFree { void operator()(xmlNode* n) const { xmlFreeNode(n); } };
struct XmlBufferFree { void operator()(xmlBuffer* b) const { xmlBufferFree(b); } };
struct XmlCharFree { void operator()(xmlChar* c) const { xmlFree(c); } };
struct RelaxNGParserFree { void operator()(xmlRelaxNGParserCtxt* c) const { xmlRelaxNGFreeParserCtxt(c); } };
struct RelaxNGFree { void operator()(xmlRelaxNG* r) const { xmlRelaxNGFree(r); } };
struct RelaxNGValidFree { void operator()(xmlRelaxNGValidCtxt* c) const { xmlRelaxNGFreeValidCtxt(c); } };
struct XmlParserCtxtFree { void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); } };

using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocFree>;
using XmlNodePtr = std::unique_ptr<xmlNode, XmlNodeFree>;
using XmlBufferPtr = std::unique_ptr<xmlBuffer, XmlBufferFree>;
using XmlCharPtr = std::unique_ptr<xmlChar, XmlCharFree>;

// Parses a document; malformed input throws ConfError(VIR_ERR_XML_ERROR) with libxml2's
// message and line. No network, no entity expansion, no DTD loading.
// The largest document parseXmlDocument reads: far above any real domain (libvirt's RPC
// strings stop at 4 MiB, and the daemon refuses a definition that would not fit one);
// keeps int casts safe.
inline constexpr size_t kMaxDocumentSize = 16u << 20;

XmlDocPtr parseXmlDocument(const std::string& xml, const char* url);

// The element serialized on its own (namespaces it uses declared on it).
std::string serializeElement(xmlNode* node);

class ElementReader {
public:
    // `context` prefixes messages: "disk 'vda'", "interface", "domain".
    ElementReader(xmlNode* node, std::string context);

    const std::string& context() const { return context_; }
    void setContext(std::string c) { context_ = std::move(c); }
    xmlNode* node() const { return node_; }
    std::string name() const;

    std::optional<std::string> attr(const char* name);
    std::string requireAttr(const char* name);
    // Attribute that must have one of `allowed` values when present.
    std::optional<std::string> attrOneOf(const char* name, std::initializer_list<const char*> allowed);
    std::optional<bool> yesNo(const char* name);  // yes/no
    std::optional<bool> onOff(const char* name);  // on/off
    std::optional<unsigned long long> number(const char* name);  // decimal or 0x hex

    // Child elements named `name`, marked consumed.
    std::vector<xmlNode*> children(const char* name);
    // At most one child named `name`.
    xmlNode* child(const char* name);
    // Every child element not yet consumed, in document order.
    std::vector<xmlNode*> remainingChildren();
    void consume(xmlNode* child) { consumedChildren_.insert(child); }

    // The text content (elements with text only).
    std::string text() const;

    // Throws VIR_ERR_CONFIG_UNSUPPORTED naming the first unconsumed attribute or child.
    void finish();

private:
    xmlNode* node_;
    std::string context_;
    std::set<std::string> consumedAttrs_;
    std::set<xmlNode*> consumedChildren_;
};

std::string nodeName(xmlNode* node);
std::string nodeText(xmlNode* node);

}  // namespace mica::conf
