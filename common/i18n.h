// Translation markers for user-facing messages.
//
// Every message a person may read (errors sent to libvirt clients, command-line
// diagnostics) goes through _() so xgettext collects it into po/mica.pot.
#pragma once

#include <libintl.h>

#define _(msgid) ::dgettext("mica", msgid)
#define N_(msgid) msgid

namespace mica {

// Binds the "mica" text domain to the installed locale directory and applies the
// user's locale. Call once at the start of main().
void initI18n();

}  // namespace mica
