#include "i18n.h"

#include <clocale>

#include "config.h"

namespace mica {

void initI18n()
{
    std::setlocale(LC_ALL, "");
    ::bindtextdomain(GETTEXT_PACKAGE, MICA_LOCALEDIR);
    ::bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
}

}  // namespace mica
