// VIR_DOMAIN_DEFINE_VALIDATE: libvirt's own domain.rng through libxml2's RelaxNG.
#include <memory>

#include "ConfError.h"
#include "DomainXmlParserParts.h"
#include "i18n.h"

namespace mica::conf::detail {

namespace {

struct FirstError {  // every message, joined: libxml2's first one alone is often vague
    std::string message;
};

void collect(void* data, xmlError* err)
{
    auto* all = static_cast<FirstError*>(data);
    if (!err || !err->message)
        return;
    std::string m = err->message;
    while (!m.empty() && m.back() == '\n')
        m.pop_back();
    // Validation errors carry the offending node (when libxml2 knows it), not a line.
    if (auto* node = static_cast<xmlNode*>(err->node)) {
        XmlCharPtr path(xmlGetNodePath(node));
        m += subst(_(" (line %1, %2)"), {std::to_string(xmlGetLineNo(node)),
                                          path ? reinterpret_cast<const char*>(path.get()) : "?"});
    }
    all->message += (all->message.empty() ? "" : "; ") + m;
}

}  // namespace

void validateAgainstSchema(xmlDoc* doc, const char* schemaPath)
{
    FirstError schemaErr;
    std::unique_ptr<xmlRelaxNGParserCtxt, RelaxNGParserFree> pctxt(xmlRelaxNGNewParserCtxt(schemaPath));
    if (!pctxt)
        throw ConfError(VIR_ERR_INTERNAL_ERROR, subst(_("cannot read schema %1"), {schemaPath}));
    xmlRelaxNGSetParserStructuredErrors(pctxt.get(), collect, &schemaErr);
    std::unique_ptr<xmlRelaxNG, RelaxNGFree> schema(xmlRelaxNGParse(pctxt.get()));
    if (!schema)
        throw ConfError(VIR_ERR_INTERNAL_ERROR,
                        subst(_("cannot parse schema %1: %2"), {schemaPath, schemaErr.message}));
    std::unique_ptr<xmlRelaxNGValidCtxt, RelaxNGValidFree> vctxt(xmlRelaxNGNewValidCtxt(schema.get()));
    FirstError err;
    xmlRelaxNGSetValidStructuredErrors(vctxt.get(), collect, &err);
    if (xmlRelaxNGValidateDoc(vctxt.get(), doc) != 0)
        throw ConfError(VIR_ERR_XML_INVALID_SCHEMA,
                        subst(_("Unable to validate doc against %1: %2"), {schemaPath, err.message}));
}

}  // namespace mica::conf::detail
