#include "ProcedureNames.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace mica::rpc {

namespace {

struct Entry {
    std::int32_t proc;
    std::string_view name;
};

// Taken from the procedure table of the project's rpc.md fact sheet (which cites
// libvirt's remote_protocol.x) and the procedures seen in its client traces. Sorted.
constexpr Entry kProcedures[] = {
    {1, "CONNECT_OPEN"},
    {2, "CONNECT_CLOSE"},
    {3, "CONNECT_GET_TYPE"},
    {4, "CONNECT_GET_VERSION"},
    {5, "CONNECT_GET_MAX_VCPUS"},
    {6, "NODE_GET_INFO"},
    {7, "CONNECT_GET_CAPABILITIES"},
    {8, "DOMAIN_ATTACH_DEVICE"},
    {9, "DOMAIN_CREATE"},
    {10, "DOMAIN_CREATE_XML"},
    {11, "DOMAIN_DEFINE_XML"},
    {12, "DOMAIN_DESTROY"},
    {13, "DOMAIN_DETACH_DEVICE"},
    {14, "DOMAIN_GET_XML_DESC"},
    {15, "DOMAIN_GET_AUTOSTART"},
    {16, "DOMAIN_GET_INFO"},
    {17, "DOMAIN_GET_MAX_MEMORY"},
    {18, "DOMAIN_GET_MAX_VCPUS"},
    {19, "DOMAIN_GET_OS_TYPE"},
    {20, "DOMAIN_GET_VCPUS"},
    {21, "CONNECT_LIST_DEFINED_DOMAINS"},
    {22, "DOMAIN_LOOKUP_BY_ID"},
    {23, "DOMAIN_LOOKUP_BY_NAME"},
    {24, "DOMAIN_LOOKUP_BY_UUID"},
    {25, "CONNECT_NUM_OF_DEFINED_DOMAINS"},
    {26, "DOMAIN_PIN_VCPU"},
    {27, "DOMAIN_REBOOT"},
    {28, "DOMAIN_RESUME"},
    {29, "DOMAIN_SET_AUTOSTART"},
    {30, "DOMAIN_SET_MAX_MEMORY"},
    {31, "DOMAIN_SET_MEMORY"},
    {32, "DOMAIN_SET_VCPUS"},
    {33, "DOMAIN_SHUTDOWN"},
    {34, "DOMAIN_SUSPEND"},
    {35, "DOMAIN_UNDEFINE"},
    {36, "CONNECT_LIST_DEFINED_NETWORKS"},
    {37, "CONNECT_LIST_DOMAINS"},
    {38, "CONNECT_LIST_NETWORKS"},
    {43, "NETWORK_GET_XML_DESC"},
    {46, "NETWORK_LOOKUP_BY_NAME"},
    {50, "CONNECT_NUM_OF_DEFINED_NETWORKS"},
    {51, "CONNECT_NUM_OF_DOMAINS"},
    {52, "CONNECT_NUM_OF_NETWORKS"},
    {54, "DOMAIN_RESTORE"},
    {55, "DOMAIN_SAVE"},
    {59, "CONNECT_GET_HOSTNAME"},
    {60, "CONNECT_SUPPORTS_FEATURE"},
    {64, "DOMAIN_BLOCK_STATS"},
    {65, "DOMAIN_INTERFACE_STATS"},
    {66, "AUTH_LIST"},
    {71, "CONNECT_NUM_OF_STORAGE_POOLS"},
    {72, "CONNECT_LIST_STORAGE_POOLS"},
    {73, "CONNECT_NUM_OF_DEFINED_STORAGE_POOLS"},
    {74, "CONNECT_LIST_DEFINED_STORAGE_POOLS"},
    {77, "STORAGE_POOL_DEFINE_XML"},
    {78, "STORAGE_POOL_CREATE"},
    {79, "STORAGE_POOL_BUILD"},
    {82, "STORAGE_POOL_UNDEFINE"},
    {83, "STORAGE_POOL_REFRESH"},
    {84, "STORAGE_POOL_LOOKUP_BY_NAME"},
    {88, "STORAGE_POOL_GET_XML_DESC"},
    {90, "STORAGE_POOL_SET_AUTOSTART"},
    {101, "NODE_GET_CELLS_FREE_MEMORY"},
    {102, "NODE_GET_FREE_MEMORY"},
    {105, "CONNECT_DOMAIN_EVENT_REGISTER"},
    {106, "CONNECT_DOMAIN_EVENT_DEREGISTER"},
    {107, "DOMAIN_EVENT_LIFECYCLE"},
    {110, "CONNECT_GET_URI"},
    {111, "NODE_NUM_OF_DEVICES"},
    {112, "NODE_LIST_DEVICES"},
    {113, "NODE_DEVICE_LOOKUP_BY_NAME"},
    {114, "NODE_DEVICE_GET_XML_DESC"},
    {117, "NODE_DEVICE_LIST_CAPS"},
    {121, "DOMAIN_GET_SECURITY_LABEL"},
    {122, "NODE_GET_SECURITY_MODEL"},
    {126, "CONNECT_NUM_OF_INTERFACES"},
    {127, "CONNECT_LIST_INTERFACES"},
    {137, "CONNECT_NUM_OF_DEFINED_INTERFACES"},
    {138, "CONNECT_LIST_DEFINED_INTERFACES"},
    {139, "CONNECT_NUM_OF_SECRETS"},
    {140, "CONNECT_LIST_SECRETS"},
    {141, "SECRET_LOOKUP_BY_UUID"},
    {142, "SECRET_DEFINE_XML"},
    {144, "SECRET_SET_VALUE"},
    {145, "SECRET_GET_VALUE"},
    {147, "SECRET_LOOKUP_BY_USAGE"},
    {148, "DOMAIN_MIGRATE_PREPARE_TUNNEL"},
    {149, "CONNECT_IS_SECURE"},
    {150, "DOMAIN_IS_ACTIVE"},
    {151, "DOMAIN_IS_PERSISTENT"},
    {152, "NETWORK_IS_ACTIVE"},
    {154, "STORAGE_POOL_IS_ACTIVE"},
    {157, "CONNECT_GET_LIB_VERSION"},
    {158, "CONNECT_COMPARE_CPU"},
    {159, "DOMAIN_MEMORY_STATS"},
    {160, "DOMAIN_ATTACH_DEVICE_FLAGS"},
    {161, "DOMAIN_DETACH_DEVICE_FLAGS"},
    {162, "CONNECT_BASELINE_CPU"},
    {163, "DOMAIN_GET_JOB_INFO"},
    {164, "DOMAIN_ABORT_JOB"},
    {167, "CONNECT_DOMAIN_EVENT_REGISTER_ANY"},
    {168, "CONNECT_DOMAIN_EVENT_DEREGISTER_ANY"},
    {174, "DOMAIN_UPDATE_DEVICE_FLAGS"},
    {182, "DOMAIN_MANAGED_SAVE"},
    {183, "DOMAIN_HAS_MANAGED_SAVE_IMAGE"},
    {184, "DOMAIN_MANAGED_SAVE_REMOVE"},
    {185, "DOMAIN_SNAPSHOT_CREATE_XML"},
    {187, "DOMAIN_SNAPSHOT_NUM"},
    {194, "DOMAIN_GET_BLOCK_INFO"},
    {196, "DOMAIN_CREATE_WITH_FLAGS"},
    {199, "DOMAIN_SET_VCPUS_FLAGS"},
    {200, "DOMAIN_GET_VCPUS_FLAGS"},
    {201, "DOMAIN_OPEN_CONSOLE"},
    {203, "CONNECT_GET_SYSINFO"},
    {204, "DOMAIN_SET_MEMORY_FLAGS"},
    {210, "DOMAIN_INJECT_NMI"},
    {211, "DOMAIN_SCREENSHOT"},
    {212, "DOMAIN_GET_STATE"},
    {227, "NODE_GET_CPU_STATS"},
    {228, "NODE_GET_MEMORY_STATS"},
    {231, "DOMAIN_UNDEFINE_FLAGS"},
    {232, "DOMAIN_SAVE_FLAGS"},
    {233, "DOMAIN_RESTORE_FLAGS"},
    {234, "DOMAIN_DESTROY_FLAGS"},
    {245, "DOMAIN_RESET"},
    {258, "DOMAIN_SHUTDOWN_FLAGS"},
    {262, "DOMAIN_GET_CPU_STATS"},
    {264, "DOMAIN_SET_METADATA"},
    {266, "DOMAIN_BLOCK_REBASE"},
    {273, "CONNECT_LIST_ALL_DOMAINS"},
    {274, "DOMAIN_LIST_ALL_SNAPSHOTS"},
    {281, "CONNECT_LIST_ALL_STORAGE_POOLS"},
    {282, "STORAGE_POOL_LIST_ALL_VOLUMES"},
    {283, "CONNECT_LIST_ALL_NETWORKS"},
    {284, "CONNECT_LIST_ALL_INTERFACES"},
    {285, "CONNECT_LIST_ALL_NODE_DEVICES"},
    {286, "CONNECT_LIST_ALL_NWFILTERS"},
    {287, "CONNECT_LIST_ALL_SECRETS"},
    {293, "NODE_GET_CPU_MAP"},
    {298, "DOMAIN_GET_JOB_STATS"},
    {305, "DOMAIN_MIGRATE_PERFORM3_PARAMS"},
    {308, "DOMAIN_SET_MEMORY_STATS_PERIOD"},
    {312, "CONNECT_GET_CPU_MODEL_NAMES"},
    {313, "CONNECT_NETWORK_EVENT_REGISTER_ANY"},
    {314, "CONNECT_NETWORK_EVENT_DEREGISTER_ANY"},
    {315, "NETWORK_EVENT_LIFECYCLE"},
    {316, "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY"},
    {317, "CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY"},
    {318, "DOMAIN_EVENT_CALLBACK_LIFECYCLE"},
    {319, "DOMAIN_EVENT_CALLBACK_REBOOT"},
    {328, "DOMAIN_EVENT_CALLBACK_TRAY_CHANGE"},
    {331, "DOMAIN_EVENT_CALLBACK_BALLOON_CHANGE"},
    {333, "DOMAIN_EVENT_CALLBACK_DEVICE_REMOVED"},
    {337, "DOMAIN_GET_TIME"},
    {338, "DOMAIN_SET_TIME"},
    {342, "CONNECT_GET_DOMAIN_CAPABILITIES"},
    {343, "DOMAIN_OPEN_GRAPHICS_FD"},
    {344, "CONNECT_GET_ALL_DOMAIN_STATS"},
    {348, "DOMAIN_EVENT_CALLBACK_AGENT_LIFECYCLE"},
    {350, "DOMAIN_DEFINE_XML_FLAGS"},
    {353, "DOMAIN_INTERFACE_ADDRESSES"},
    {354, "DOMAIN_EVENT_CALLBACK_DEVICE_ADDED"},
    {360, "CONNECT_REGISTER_CLOSE_CALLBACK"},
    {361, "CONNECT_UNREGISTER_CLOSE_CALLBACK"},
    {362, "CONNECT_EVENT_CONNECTION_CLOSED"},
    {363, "DOMAIN_EVENT_CALLBACK_JOB_COMPLETED"},
    {364, "DOMAIN_MIGRATE_START_POST_COPY"},
    {367, "DOMAIN_EVENT_CALLBACK_DEVICE_REMOVAL_FAILED"},
    {368, "CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY"},
    {369, "CONNECT_STORAGE_POOL_EVENT_DEREGISTER_ANY"},
    {370, "STORAGE_POOL_EVENT_LIFECYCLE"},
    {373, "STORAGE_POOL_EVENT_REFRESH"},
    {374, "CONNECT_NODE_DEVICE_EVENT_REGISTER_ANY"},
    {375, "CONNECT_NODE_DEVICE_EVENT_DEREGISTER_ANY"},
    {376, "NODE_DEVICE_EVENT_LIFECYCLE"},
    {377, "NODE_DEVICE_EVENT_UPDATE"},
    {379, "DOMAIN_EVENT_CALLBACK_METADATA_CHANGE"},
    {380, "CONNECT_SECRET_EVENT_REGISTER_ANY"},
    {381, "CONNECT_SECRET_EVENT_DEREGISTER_ANY"},
    {393, "CONNECT_COMPARE_HYPERVISOR_CPU"},
    {426, "DOMAIN_GET_MESSAGES"},
    {436, "NODE_DEVICE_IS_ACTIVE"},
    {443, "DOMAIN_FD_ASSOCIATE"},
};

const Entry* find(std::int32_t proc)
{
    auto it = std::lower_bound(std::begin(kProcedures), std::end(kProcedures), proc,
                               [](const Entry& e, std::int32_t p) { return e.proc < p; });
    if (it == std::end(kProcedures) || it->proc != proc)
        return nullptr;
    return it;
}

bool contains(std::string_view name, std::string_view word)
{
    return name.find(word) != std::string_view::npos;
}

}  // namespace

std::string_view remoteProcedureName(std::int32_t proc)
{
    const Entry* e = find(proc);
    return e ? e->name : std::string_view{};
}

std::string remoteProcedureApiName(std::int32_t proc)
{
    std::string_view name = remoteProcedureName(proc);
    if (name.empty())
        return "procedure " + std::to_string(proc);
    // libvirt spells these acronyms in capitals inside API names.
    static constexpr std::string_view kAcronyms[] = {"XML", "UUID", "CPU", "ID", "URI", "NMI"};
    std::string api = "vir";
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t end = name.find('_', start);
        if (end == std::string_view::npos)
            end = name.size();
        std::string_view word = name.substr(start, end - start);
        if (std::find(std::begin(kAcronyms), std::end(kAcronyms), word) != std::end(kAcronyms)) {
            api += word;
        } else if (!word.empty()) {
            api += word[0];
            for (char c : word.substr(1))
                api += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        start = end + 1;
    }
    return api;
}

bool remoteProcedureIsReadOnly(std::int32_t proc)
{
    std::string_view name = remoteProcedureName(proc);
    if (name.empty())
        return false;
    // Read-only by name, but libvirt refuses them on read-only connections.
    static constexpr std::string_view kWriting[] = {
        "DOMAIN_OPEN_CONSOLE", "DOMAIN_OPEN_CHANNEL", "DOMAIN_OPEN_GRAPHICS_FD",
        "DOMAIN_SCREENSHOT", "SECRET_GET_VALUE",
        "DOMAIN_SET_MEMORY_STATS_PERIOD"};
    if (std::find(std::begin(kWriting), std::end(kWriting), name) != std::end(kWriting))
        return false;
    static constexpr std::string_view kReadingWords[] = {
        "GET_", "LIST", "LOOKUP", "NUM_OF", "_IS_", "EVENT", "SUPPORTS_FEATURE",
        "HAS_", "_STATS", "COMPARE", "BASELINE", "AUTH_", "CLOSE_CALLBACK", "SNAPSHOT_NUM"};
    if (name == "CONNECT_OPEN" || name == "CONNECT_CLOSE")
        return true;
    return std::any_of(std::begin(kReadingWords), std::end(kReadingWords),
                       [name](std::string_view w) { return contains(name, w); });
}

}  // namespace mica::rpc
