// A domain's <metadata> elements as virDomainSetMetadata / GetMetadata name them: by their
// namespace URI, one element per namespace.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mica::conf {

// `xml` (one element) put in namespace `uri` with prefix `key`, serialized as the
// definition keeps it. ConfError: malformed XML, not one element, a key that is no XML
// name.
std::string namespacedElement(const std::string& xml, const std::string& key, const std::string& uri);
// The index of the element in namespace `uri`, if any.
std::optional<std::size_t> findMetadata(const std::vector<std::string>& metadata, const std::string& uri);

}  // namespace mica::conf
