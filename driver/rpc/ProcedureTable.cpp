#include "ProcedureTable.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace mica::rpc {

namespace {

constexpr ProcedurePriority LOW = ProcedurePriority::Low;
constexpr ProcedurePriority HIGH = ProcedurePriority::High;

constexpr RemoteProcedure kProcedures[] = {
#define CALL(number, name, priority, acl) {number, #name, ProcedureKind::Call, priority, acl},
#define EVENT(number, name) {number, #name, ProcedureKind::Event, LOW, "none"},
#include "RemoteProcedures.def"
};

// The lookups index the table by number, so it must be dense and in order.
constexpr bool denseFromOne()
{
    for (std::size_t i = 0; i < std::size(kProcedures); ++i)
        if (kProcedures[i].number != static_cast<std::int32_t>(i + 1))
            return false;
    return true;
}
static_assert(denseFromOne(), "RemoteProcedures.def must list 1, 2, 3, ... in order");

struct WordSpelling {
    std::string_view word;
    std::string_view spelling;
};

constexpr WordSpelling kApiWords[] = {
#define API_WORD(word, spelling) {#word, #spelling},
#include "RemoteProcedures.def"
};

struct ApiName {
    std::int32_t number;
    std::string_view api;
};

constexpr ApiName kApiNames[] = {
#define API_NAME(number, api) {number, #api},
#include "RemoteProcedures.def"
};

}  // namespace

std::span<const RemoteProcedure> remoteProcedures()
{
    return kProcedures;
}

std::int32_t remoteProcedureMax()
{
    return static_cast<std::int32_t>(std::size(kProcedures));
}

const RemoteProcedure* findRemoteProcedure(std::int32_t proc)
{
    if (proc < 1 || proc > remoteProcedureMax())
        return nullptr;
    return &kProcedures[proc - 1];
}

std::string_view remoteProcedureName(std::int32_t proc)
{
    const RemoteProcedure* p = findRemoteProcedure(proc);
    return p ? p->name : std::string_view{};
}

std::string remoteProcedureApiName(std::int32_t proc)
{
    std::string_view name = remoteProcedureName(proc);
    if (name.empty())
        return "procedure " + std::to_string(proc);
    for (const ApiName& a : kApiNames)
        if (a.number == proc)
            return std::string(a.api);
    // DOMAIN_GET_XML_DESC -> virDomainGetXMLDesc: each word capitalised, except the
    // ones libvirt spells otherwise.
    std::string api = "vir";
    std::size_t start = 0;
    while (start < name.size()) {
        std::size_t end = std::min(name.find('_', start), name.size());
        std::string_view word = name.substr(start, end - start);
        auto spelled = std::find_if(std::begin(kApiWords), std::end(kApiWords),
                                    [word](const WordSpelling& w) { return w.word == word; });
        if (spelled != std::end(kApiWords)) {
            api += spelled->spelling;
        } else if (!word.empty()) {
            api += word[0];
            for (char c : word.substr(1))
                api += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        start = end + 1;
    }
    return api;
}

}  // namespace mica::rpc
