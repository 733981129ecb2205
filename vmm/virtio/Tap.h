// A Linux TAP interface as a virtio-net backend: opened by name (one fd per queue pair,
// IFF_MULTI_QUEUE when there are several) or taken from an inherited fd, always with
// the 12-byte virtio-net header in front of every frame (IFF_VNET_HDR).
#pragma once

#include <string>
#include <vector>

#include "UniqueFd.h"

namespace mica::virtio {

constexpr size_t kVnetHeaderSize = 12;  // struct virtio_net_hdr_v1 (VERSION_1 always has num_buffers)

// Throws Error "tap 'NAME': reason".
std::vector<UniqueFd> openTap(const std::string& name, unsigned queuePairs);
// Adopts an open TAP fd (which must have IFF_VNET_HDR): one queue pair's (a multi-queue
// TAP's queues each come as their own fd).
UniqueFd adoptTap(int fd);
// TUNSETOFFLOAD: what the TAP may hand us (checksum offload when the guest takes it).
void setTapOffloads(int fd, unsigned flags);

}  // namespace mica::virtio
