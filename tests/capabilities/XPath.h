// Evaluates an XPath expression on an XML document, for assertions on generated XML.
#pragma once

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <memory>
#include <string>

namespace mica::caps::test {

// string(EXPR) of the document; "" when the expression selects nothing.
inline std::string xpath(const std::string& xml, const std::string& expr)
{
    std::unique_ptr<xmlDoc, void (*)(xmlDoc*)> doc(
        xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "caps.xml", nullptr, XML_PARSE_NONET), xmlFreeDoc);
    if (!doc)
        return "<unparsable>";
    std::unique_ptr<xmlXPathContext, void (*)(xmlXPathContext*)> ctx(xmlXPathNewContext(doc.get()),
                                                                     xmlXPathFreeContext);
    std::string wrapped = "string(" + expr + ")";
    std::unique_ptr<xmlXPathObject, void (*)(xmlXPathObject*)> obj(
        xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(wrapped.c_str()), ctx.get()), xmlXPathFreeObject);
    if (!obj || !obj->stringval)
        return "<bad xpath>";
    return reinterpret_cast<const char*>(obj->stringval);
}

inline int xcount(const std::string& xml, const std::string& expr)
{
    return std::stoi(xpath(xml, "count(" + expr + ")"));
}

}  // namespace mica::caps::test
