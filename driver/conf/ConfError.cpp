#include "ConfError.h"

#include "i18n.h"

namespace mica::conf {

const char* errorCodeName(virErrorNumber code)
{
    switch (code) {
    case VIR_ERR_CONFIG_UNSUPPORTED: return "VIR_ERR_CONFIG_UNSUPPORTED";
    case VIR_ERR_XML_ERROR: return "VIR_ERR_XML_ERROR";
    case VIR_ERR_XML_INVALID_SCHEMA: return "VIR_ERR_XML_INVALID_SCHEMA";
    case VIR_ERR_INTERNAL_ERROR: return "VIR_ERR_INTERNAL_ERROR";
    default: return "VIR_ERR_?";
    }
}

const char* errorCodePrefix(virErrorNumber code)
{
    switch (code) {
    case VIR_ERR_CONFIG_UNSUPPORTED: return _("unsupported configuration");
    case VIR_ERR_XML_ERROR: return _("XML error");
    case VIR_ERR_XML_INVALID_SCHEMA: return _("XML document failed to validate against schema");
    default: return _("internal error");
    }
}

std::string subst(const char* tmpl, std::initializer_list<std::string> args)
{
    std::string out;
    for (const char* p = tmpl; *p; ++p) {
        if (p[0] == '%' && p[1] >= '1' && p[1] <= '9' && size_t(p[1] - '1') < args.size()) {
            out += *(args.begin() + (p[1] - '1'));
            ++p;
        } else {
            out += *p;
        }
    }
    return out;
}

void unsupported(const std::string& message)
{
    throw ConfError(VIR_ERR_CONFIG_UNSUPPORTED, message);
}

void invalidXml(const std::string& message)
{
    throw ConfError(VIR_ERR_XML_ERROR, message);
}

}  // namespace mica::conf
