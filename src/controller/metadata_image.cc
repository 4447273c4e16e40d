#include "gregor/controller/metadata_image.h"

#include <fmt/format.h>

namespace gregor::controller {

const topic_info* metadata_image::topic(std::string_view name) const {
  auto it = _topics.find(std::string(name));
  return it == _topics.end() ? nullptr : &it->second;
}

const topic_info* metadata_image::topic(uuid id) const {
  auto it = _names_by_id.find(id);
  return it == _names_by_id.end() ? nullptr : topic(it->second);
}

const std::map<std::string, std::string>& metadata_image::broker_configs(const std::string& resource) const {
  static const std::map<std::string, std::string> none;
  auto it = _broker_configs.find(resource);
  return it == _broker_configs.end() ? none : it->second;
}

void metadata_image::put_broker(broker_info b) {
  node_id id = b.id;
  _brokers[id] = std::move(b);
  ++_version;
}

std::string metadata_image::apply(const metadata_record& r) {
  auto find_mut = [&](const uuid& id) -> topic_info* {
    auto it = _names_by_id.find(id);
    if (it == _names_by_id.end()) return nullptr;
    auto t = _topics.find(it->second);
    return t == _topics.end() ? nullptr : &t->second;
  };
  std::string why = std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, topic_record>) {
          if (_topics.count(x.name)) return fmt::format("topic '{}' already exists", x.name);
          if (_names_by_id.count(x.topic_id)) return fmt::format("topic id {} already in use", x.topic_id.to_base64());
          topic_info t;
          t.name = x.name;
          t.id = x.topic_id;
          t.internal = x.internal;
          _topics.emplace(x.name, std::move(t));
          _names_by_id.emplace(x.topic_id, x.name);
          return "";
        } else if constexpr (std::is_same_v<T, partition_record>) {
          topic_info* t = find_mut(x.topic_id);
          if (!t) return fmt::format("partition record for unknown topic id {}", x.topic_id.to_base64());
          const auto p = static_cast<size_t>(x.partition.value());
          if (x.partition.value() < 0 || p > t->partitions.size())
            return fmt::format("partition {} of '{}' is not the next one ({})", x.partition.value(), t->name,
                               t->partitions.size());
          partition_info info{x.partition, x.leader, x.leader_epoch, x.replicas, x.isr};
          if (p == t->partitions.size()) t->partitions.push_back(std::move(info));
          else t->partitions[p] = std::move(info);
          return "";
        } else if constexpr (std::is_same_v<T, partition_change_record>) {
          topic_info* t = find_mut(x.topic_id);
          if (!t) return fmt::format("partition change for unknown topic id {}", x.topic_id.to_base64());
          if (x.partition.value() < 0 || static_cast<size_t>(x.partition.value()) >= t->partitions.size())
            return fmt::format("partition change for unknown partition {} of '{}'", x.partition.value(), t->name);
          auto& p = t->partitions[x.partition.value()];
          p.leader = x.leader;
          p.leader_epoch = x.leader_epoch;
          p.isr = x.isr;
          return "";
        } else if constexpr (std::is_same_v<T, remove_topic_record>) {
          auto it = _names_by_id.find(x.topic_id);
          if (it == _names_by_id.end()) return fmt::format("removal of unknown topic id {}", x.topic_id.to_base64());
          _topics.erase(it->second);
          _names_by_id.erase(it);
          return "";
        } else if constexpr (std::is_same_v<T, config_record>) {
          topic_info* t = find_mut(x.topic_id);
          if (!t) return fmt::format("config record for unknown topic id {}", x.topic_id.to_base64());
          if (x.value) t->configs[x.name] = *x.value;
          else t->configs.erase(x.name);
          return "";
        } else if constexpr (std::is_same_v<T, broker_record>) {
          _brokers[x.id] = broker_info{x.id, x.host, x.port, x.rack};
          return "";
        } else if constexpr (std::is_same_v<T, broker_config_record>) {
          auto& m = _broker_configs[x.resource];
          if (x.value) m[x.name] = *x.value;
          else m.erase(x.name);
          if (m.empty()) _broker_configs.erase(x.resource);
          return "";
        } else if constexpr (std::is_same_v<T, producer_ids_record>) {
          if (x.next_producer_id < _next_producer_id)
            return fmt::format("producer id block ending at {} is below the next id {}", x.next_producer_id,
                               _next_producer_id);
          _next_producer_id = x.next_producer_id;
          return "";
        }
      },
      r);
  if (why.empty()) ++_version;
  return why;
}

}  // namespace gregor::controller
