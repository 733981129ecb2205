// Numbers from the virtio 1.x specification (OASIS virtio v1.1/1.2) that the transport
// and the devices share.
#pragma once

#include <cstdint>

namespace mica::virtio {

// Device status bits (2.1).
constexpr uint8_t kStatusAcknowledge = 1, kStatusDriver = 2, kStatusDriverOk = 4, kStatusFeaturesOk = 8,
                  kStatusNeedsReset = 0x40, kStatusFailed = 0x80;

// Feature bits independent of the device type (6).
constexpr unsigned kFeatureIndirectDesc = 28, kFeatureEventIdx = 29, kFeatureVersion1 = 32;

// Device types (5).
constexpr uint16_t kTypeNet = 1, kTypeBlock = 2, kTypeConsole = 3, kTypeRng = 4, kTypeBalloon = 5, kTypeVsock = 19;

// Split virtqueue descriptor flags (2.7.5).
constexpr uint16_t kDescNext = 1, kDescWrite = 2, kDescIndirect = 4;
constexpr uint16_t kAvailNoInterrupt = 1;
constexpr uint16_t kUsedNoNotify = 1;

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

}  // namespace mica::virtio
