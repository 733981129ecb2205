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

void writeJson(const std::string& dir, const char* name, const nlohmann::json& value);
// Throws StateError when the file is missing, too large or not JSON.
nlohmann::json readJson(const std::string& dir, const char* name);

UniqueFd createMemoryFile(const std::string& dir);
UniqueFd openMemoryFile(const std::string& dir);

// The state's format and version, checked: throws StateError naming what it found.
void checkFormat(const nlohmann::json& state);

}  // namespace mica::snapshot
