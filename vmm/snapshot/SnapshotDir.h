// A snapshot on disk (docs/snapshot.md, schemas/snapshot-state.schema.json): a
// directory named by a file:// URL holding
//   config.json   the VmConfig, as vm.create takes it
//   state.json    {"format": "mica-snapshot", "version": 1, ...}: every component's state
//   memory        guest RAM (MemoryImage.h)
// Files are written whole (temporary name, fsync, rename), so a directory never holds
// half a state.json.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "UniqueFd.h"

namespace mica::snapshot {

constexpr const char* kFormat = "mica-snapshot";
constexpr int kVersion = 1;
constexpr const char* kConfigFile = "config.json";
constexpr const char* kStateFile = "state.json";
constexpr const char* kMemoryFile = "memory";

// "file:///abs/dir" -> "/abs/dir"; throws Error for any other URL.
std::string directoryFromUrl(const std::string& url);

// A snapshot directory, open: every file in it is opened relative to `fd`, so one the
// caller opened and handed over (a VMM in a mount namespace of its own cannot reach the
// path) serves as well as one named. `path` names it in messages.
struct Directory {
    UniqueFd fd;
    std::string path;
};
// The directory of a file:// URL, made first (mode 0700) when `create`; throws Error
// for a bad URL, a system error when it cannot be opened.
Directory openDirectory(const std::string& url, bool create);

void writeJson(const Directory& dir, const char* name, const nlohmann::json& value);
// Throws StateError when the file is missing, too large or not JSON.
nlohmann::json readJson(const Directory& dir, const char* name);

UniqueFd createMemoryFile(const Directory& dir);
UniqueFd openMemoryFile(const Directory& dir);

// The state's format and version, checked: throws StateError naming what it found.
void checkFormat(const nlohmann::json& state);

}  // namespace mica::snapshot
