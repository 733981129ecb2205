#include "ApiServer.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <map>

#include "MemoryImage.h"
#include "Seccomp.h"
#include "VmConfigJson.h"
#include "config.h"
#include "i18n.h"

namespace mica {

namespace {

constexpr const char* kPrefix = "/api/v1/";

http::Response jsonResponse(const nlohmann::json& body)
{
    return http::Response{200, "application/json", body.dump(), false};
}

// Requests with a body must say it is JSON; PUTs without a body have none to check.
nlohmann::json parseBody(http::Request& request)
{
    try {
        return nlohmann::json::parse(request.body);
    } catch (const nlohmann::json::parse_error& e) {
        throw ApiError(400, std::string(_("malformed JSON: ")) + e.what());
    }
}

// An fd of the request, named by its index in the body's `key`.
UniqueFd handedFd(http::Request& r, const nlohmann::json& index, const char* key)
{
    if (!index.is_number_unsigned() || index.get<uint64_t>() >= r.fds.size() || !r.fds[index.get<size_t>()])
        throw ApiError(400, std::string(key) + _(": expected the index of an fd that came with the request"));
    return std::move(r.fds[index.get<size_t>()]);
}

// A body {"id": "DISK", ...} whose other keys are among `optional`, each a string
// unless it ends in "_fd" (an fd index); returns it.
nlohmann::json diskBody(http::Request& r, std::initializer_list<const char*> optional)
{
    auto body = parseBody(r);
    std::string shape = "{\"id\": \"DISK\"";
    for (const char* key : optional)
        shape += std::string(", \"") + key + "\": ...";
    shape = _("expected a body ") + shape + "}";
    if (!body.is_object() || !body.contains("id") || !body["id"].is_string())
        throw ApiError(400, shape);
    for (const auto& [key, value] : body.items()) {
        bool known = key == "id" || std::find(optional.begin(), optional.end(), key) != optional.end();
        if (!known || (!key.ends_with("_fd") && !value.is_string()))
            throw ApiError(400, shape);
    }
    return body;
}

}  // namespace

UniqueFd openApiSocket(const std::string& spec)
{
    if (spec.starts_with("fd=")) {
        int fd = -1;
        auto [end, ec] = std::from_chars(spec.data() + 3, spec.data() + spec.size(), fd);
        int type = 0;
        socklen_t len = sizeof type;
        if (ec != std::errc() || end != spec.data() + spec.size() || fd < 0 ||
            ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
            throw Error("--api-socket: " + spec + ": " + _("not an inherited stream socket"));
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        return UniqueFd(fd);
    }
    std::string path = spec.starts_with("path=") ? spec.substr(5) : spec;
    try {
        return http::Server::listenUnix(path);
    } catch (const std::exception& e) {
        throw Error(std::string("--api-socket: ") + e.what());
    }
}

http::ServerOptions ApiServer::serverOptions(unsigned timeoutSeconds)
{
    http::ServerOptions options;
    options.requestTimeoutMs = static_cast<int>(timeoutSeconds * 1000);
    // A reply is at most a few KiB: reading it never needs longer than a request may take.
    options.writeTimeoutMs = std::min(options.writeTimeoutMs, options.requestTimeoutMs);
    return options;
}

ApiServer::ApiServer(UniqueFd listener, Vmm& vmm, unsigned timeoutSeconds)
    : vmm_(vmm), server_(std::move(listener), [this](http::Request& r) { return handle(r); }, serverOptions(timeoutSeconds))
{
    auto put = [this](const std::string& name, std::function<void()> action) {
        router_.add("PUT", kPrefix + name, [action](http::Request&) {
            action();
            return http::Response::noContent();
        });
    };
    router_.add("GET", std::string(kPrefix) + "vmm.ping", [](http::Request&) {
        return jsonResponse({{"version", MICA_VERSION}, {"pid", ::getpid()},
                             {"features", {"acpi", "pause", "event-monitor", "seccomp", "snapshot", "hotplug"}}});
    });
    router_.add("PUT", std::string(kPrefix) + "vm.create", [this](http::Request& r) {
        VmConfig config;
        try {
            config = vmConfigFromJson(parseBody(r), std::move(r.fds));
        } catch (const ConfigError& e) {
            throw ApiError(400, e.what());
        }
        vmm_.create(std::move(config));
        return http::Response::noContent();
    });
    router_.add("GET", std::string(kPrefix) + "vm.info", [this](http::Request&) { return jsonResponse(vmm_.info()); });
    // vm.dirty-log: {"enabled": true|false} switches KVM's dirty page log of guest RAM;
    // GET reads (and clears) it: the pages written since the last read, per region.
    router_.add("PUT", std::string(kPrefix) + "vm.dirty-log", [this](http::Request& r) {
        auto body = parseBody(r);
        if (!body.is_object() || body.size() != 1 || !body.contains("enabled") || !body["enabled"].is_boolean())
            throw ApiError(400, _("expected a body {\"enabled\": true|false}"));
        vmm_.setDirtyLogging(body["enabled"].get<bool>());
        return http::Response::noContent();
    });
    router_.add("GET", std::string(kPrefix) + "vm.dirty-log", [this](http::Request&) { return jsonResponse(vmm_.dirtyLog()); });
    router_.add("GET", std::string(kPrefix) + "vm.counters",
                [this](http::Request&) { return jsonResponse(vmm_.counters()); });
    // vm.snapshot {"destination_url": "file:///DIR"}, vm.restore {"source_url": ...,
    // "memory_restore_mode": "copy"|"ondemand"}: Cloud Hypervisor's names and bodies.
    auto urlOf = [](const nlohmann::json& body, const char* key, std::initializer_list<const char*> optional) {
        size_t known = 1;
        for (const char* o : optional)
            known += body.is_object() && body.contains(o);
        if (!body.is_object() || !body.contains(key) || !body[key].is_string() || body.size() != known)
            throw ApiError(400, std::string(_("expected a body {\"")) + key + "\": \"file:///DIR\"}");
        return body[key].get<std::string>();
    };
    router_.add("PUT", std::string(kPrefix) + "vm.snapshot", [this, urlOf](http::Request& r) {
        // destination_fd: the URL's directory, opened by the caller and handed over
        // (virtmicad does so for a VMM in a mount namespace of its own).
        auto body = parseBody(r);
        std::string url = urlOf(body, "destination_url", {"destination_fd"});
        UniqueFd directory;
        if (body.contains("destination_fd"))
            directory = handedFd(r, body["destination_fd"], "destination_fd");
        vmm_.snapshot(url, std::move(directory));
        return http::Response::noContent();
    });
    router_.add("PUT", std::string(kPrefix) + "vm.restore", [this, urlOf](http::Request& r) {
        auto body = parseBody(r);
        std::string url = urlOf(body, "source_url", {"memory_restore_mode", "memory_fd", "memory_offset", "config"});
        auto mode = snapshot::MemoryRestoreMode::Copy;
        if (body.contains("memory_restore_mode")) {
            const auto& m = body["memory_restore_mode"];
            auto parsed = m.is_string() ? snapshot::memoryRestoreModeFromString(m.get<std::string>()) : std::nullopt;
            if (!parsed)
                throw ApiError(400, _("memory_restore_mode: expected \"copy\" or \"ondemand\""));
            mode = *parsed;
        }
        // The RAM may come as an fd of the request: a save image whose RAM starts at
        // memory_offset (virtmicad's restore).
        std::optional<Vmm::MemoryInFd> memoryIn;
        if (body.contains("memory_fd") || body.contains("memory_offset")) {
            const auto& fd = body["memory_fd"];
            const auto& offset = body["memory_offset"];
            if (!fd.is_number_unsigned() || !offset.is_number_unsigned() || fd.get<uint64_t>() > 0xffff)
                throw ApiError(400, _("memory_fd and memory_offset: expected an fd index and a byte offset, both"));
            memoryIn = Vmm::MemoryInFd{fd.get<unsigned>(), offset.get<uint64_t>()};
        }
        std::optional<nlohmann::json> config;
        if (body.contains("config")) {
            if (!body["config"].is_object())
                throw ApiError(400, _("config: expected a VM configuration object, as vm.create's body"));
            config = body["config"];
        }
        vmm_.restore(url, std::nullopt, mode, std::move(r.fds), memoryIn, config);
        return http::Response::noContent();
    });
    // Live block operations: {"id": DISK, ...}; a file the VMM may not open itself comes
    // as an fd of the request (overlay_fd, base_fd), its path still naming it.
    router_.add("PUT", std::string(kPrefix) + "vm.disk-snapshot", [this](http::Request& r) {
        auto body = diskBody(r, {"overlay", "overlay_fd", "format"});
        if (!body.contains("overlay"))
            throw ApiError(400, _("overlay: expected the new top's path"));
        if (body.contains("format") && body["format"] != "qcow2")
            throw ApiError(400, _("format: an overlay is qcow2 (the only format given)"));
        UniqueFd overlay;
        if (body.contains("overlay_fd"))
            overlay = handedFd(r, body["overlay_fd"], "overlay_fd");
        vmm_.diskSnapshot(body["id"], body["overlay"], std::move(overlay));
        return http::Response::noContent();
    });
    router_.add("PUT", std::string(kPrefix) + "vm.block-commit", [this](http::Request& r) {
        auto body = diskBody(r, {"base", "base_fd"});
        std::optional<std::string> base;
        if (body.contains("base"))
            base = body["base"].get<std::string>();
        UniqueFd baseFile;
        if (body.contains("base_fd"))
            baseFile = handedFd(r, body["base_fd"], "base_fd");
        vmm_.blockCommit(body["id"], base, std::move(baseFile));
        return http::Response::noContent();
    });
    router_.add("GET", std::string(kPrefix) + "vm.block-job", [this](http::Request&) { return jsonResponse(vmm_.blockJobs()); });
    router_.add("PUT", std::string(kPrefix) + "vm.block-job-complete", [this](http::Request& r) {
        vmm_.blockJobComplete(diskBody(r, {})["id"]);
        return http::Response::noContent();
    });
    router_.add("PUT", std::string(kPrefix) + "vm.block-job-cancel", [this](http::Request& r) {
        vmm_.blockJobCancel(diskBody(r, {})["id"]);
        return http::Response::noContent();
    });
    router_.add("PUT", std::string(kPrefix) + "vm.affinity", [this](http::Request& r) {
        auto body = parseBody(r);
        const char* shape = _("expected a body {\"vcpu\": N, \"host_cpus\": [CPU, ...]}");
        if (!body.is_object() || body.size() != 2 || !body.contains("vcpu") || !body["vcpu"].is_number_unsigned() ||
            body["vcpu"].get<uint64_t>() > 0xffff || !body.contains("host_cpus") || !body["host_cpus"].is_array())
            throw ApiError(400, shape);
        std::vector<unsigned> cpus;
        for (const auto& cpu : body["host_cpus"]) {
            if (!cpu.is_number_unsigned() || cpu.get<uint64_t>() > 0xffff)
                throw ApiError(400, shape);
            cpus.push_back(cpu.get<unsigned>());
        }
        vmm_.setVcpuAffinity(body["vcpu"].get<unsigned>(), std::move(cpus));
        return http::Response::noContent();
    });
    // vm.disk-iotune {"id": "vda", "iotune": {"write_bytes_sec": N, ...}}: the disk's
    // limits, all of them (what the object leaves out is not limited).
    router_.add("PUT", std::string(kPrefix) + "vm.disk-iotune", [this](http::Request& r) {
        auto body = parseBody(r);
        if (!body.is_object() || body.size() != 2 || !body.contains("id") || !body["id"].is_string() ||
            !body.contains("iotune"))
            throw ApiError(400, _("expected a body {\"id\": DISK, \"iotune\": {...}}"));
        IoLimits limits;
        try {
            limits = ioLimitsFromJson(body["iotune"], "iotune");
        } catch (const ConfigError& e) {
            throw ApiError(400, e.what());
        }
        vmm_.setDiskIoLimits(body["id"].get<std::string>(), limits);
        return http::Response::noContent();
    });
    // vm.resize-disk {"id": "vda", "size": BYTES}: the disk grows, the guest is told.
    router_.add("PUT", std::string(kPrefix) + "vm.resize-disk", [this](http::Request& r) {
        auto body = parseBody(r);
        if (!body.is_object() || body.size() != 2 || !body.contains("id") || !body["id"].is_string() ||
            !body.contains("size") || !body["size"].is_number_unsigned())
            throw ApiError(400, _("expected a body {\"id\": DISK, \"size\": BYTES}"));
        vmm_.resizeDisk(body["id"].get<std::string>(), body["size"].get<uint64_t>());
        return http::Response::noContent();
    });
    // vm.resize {"desired_vcpus": N, "desired_ram": BYTES, "desired_balloon": BYTES}, any
    // of them (Cloud Hypervisor's body).
    router_.add("PUT", std::string(kPrefix) + "vm.resize", [this](http::Request& r) {
        auto body = parseBody(r);
        if (!body.is_object() || body.empty())
            throw ApiError(400, _("expected a body {\"desired_vcpus\": N, \"desired_ram\": BYTES, \"desired_balloon\": BYTES}, any of them"));
        Vmm::Resize to;
        for (const auto& [key, value] : body.items()) {
            if (!value.is_number_unsigned())
                throw ApiError(400, key + _(": expected an unsigned integer"));
            if (key == "desired_vcpus")
                to.vcpus = value.get<unsigned>();
            else if (key == "desired_ram")
                to.ram = value.get<uint64_t>();
            else if (key == "desired_balloon")
                to.balloon = value.get<uint64_t>();
            else
                throw ApiError(400, _("unknown field '") + key + "'");
        }
        vmm_.resize(to);
        return http::Response::noContent();
    });
    // PCI hotplug. vm.add-disk: an entry of vm.create's "disks", plus "handed_files" (path:
    // index of this request's fds) for files a confined VMM may not open; vm.add-net: a
    // "net" entry, its "fds" indexing the request's fds. 200 {"id", "bdf"} when the guest
    // runs, 204 when the VM has not booted (the device waits in its configuration).
    // vm.remove-device {"id": ID[, "timeout_ms": N]}: 204 at once; the guest's eject ends it
    // ("device-removed"), or the timeout does ("device-removal-failed").
    auto added = [](const nlohmann::json& answer) {
        return answer.is_null() ? http::Response::noContent() : jsonResponse(answer);
    };
    router_.add("PUT", std::string(kPrefix) + "vm.add-disk", [this, added](http::Request& r) {
        auto body = parseBody(r);
        std::map<std::string, UniqueFd> files;
        if (body.is_object() && body.contains("handed_files")) {
            if (!body["handed_files"].is_object())
                throw ApiError(400, _("handed_files: expected an object of path: fd index"));
            for (const auto& [path, index] : body["handed_files"].items())
                files[path] = handedFd(r, index, "handed_files");
            body.erase("handed_files");
        }
        DiskConfig disk;
        try {
            disk = diskConfigFromJson(body);
        } catch (const ConfigError& e) {
            throw ApiError(400, e.what());
        }
        return added(vmm_.addDisk(std::move(disk), std::move(files)));
    });
    router_.add("PUT", std::string(kPrefix) + "vm.add-net", [this, added](http::Request& r) {
        NetConfig net;
        try {
            net = netConfigFromJson(parseBody(r));
        } catch (const ConfigError& e) {
            throw ApiError(400, e.what());
        }
        return added(vmm_.addNet(std::move(net), std::move(r.fds)));
    });
    router_.add("PUT", std::string(kPrefix) + "vm.remove-device", [this](http::Request& r) {
        auto body = parseBody(r);
        bool timeoutOk = !body.is_object() || !body.contains("timeout_ms") ||
                         (body["timeout_ms"].is_number_unsigned() && body["timeout_ms"].get<uint64_t>() >= 1 &&
                          body["timeout_ms"].get<uint64_t>() <= 600000);
        if (!body.is_object() || body.size() != 1u + body.contains("timeout_ms") || !body.contains("id") ||
            !body["id"].is_string() || !timeoutOk)
            throw ApiError(400, _("expected a body {\"id\": DEVICE[, \"timeout_ms\": 1-600000]}"));
        vmm_.removeDevice(body["id"].get<std::string>(), body.value("timeout_ms", uint64_t{10000}));
        return http::Response::noContent();
    });
    put("vmm.shutdown", [this] { vmm_.requestExit(0); });
    put("vm.boot", [this] { vmm_.boot(); });
    put("vm.pause", [this] { vmm_.pause(); });
    put("vm.resume", [this] { vmm_.resume(); });
    put("vm.shutdown", [this] { vmm_.shutdown(); });
    put("vm.reboot", [this] { vmm_.reboot(); });
    put("vm.power-button", [this] { vmm_.powerButton(); });
    put("vm.nmi", [this] { vmm_.injectNmi(); });
    put("vm.delete", [this] { vmm_.remove(); });

    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "api");
        try {
            applySeccomp(ThreadRole::Api);
            seccompSelfTestPoint(ThreadRole::Api);
        } catch (const std::exception& e) {
            std::cerr << "mica-vmm: " << e.what() << std::endl;
            vmm_.requestExit(1);
            return;
        }
        server_.run();
    });
}

ApiServer::~ApiServer()
{
    server_.stop();
    thread_.join();
}

http::Response ApiServer::handle(http::Request& request)
{
    try {
        return router_.dispatch(request);
    } catch (const ApiError& e) {
        return http::Response::error(e.status(), e.what());
    } catch (const std::exception& e) {
        // The VMM failed to do what was asked (KVM, a file); the request was fine.
        return http::Response::error(500, e.what());
    }
}

}  // namespace mica
