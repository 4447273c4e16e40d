#pragma once
// server::broker: one Gregor broker process. Wires the modules together in start-up order
// (metadata, logs, partitions, then listeners) and tears them down in reverse on stop.
//
// Threading: run() drives one io_context on the calling thread; everything else happens there.
// request_stop() may be called from any thread (signal handlers post it).
#include <memory>
#include <string>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/config/broker_config.h"

namespace boost::asio {
class io_context;
}

namespace gregor::server {

class broker {
 public:
  explicit broker(config::broker_config cfg);
  ~broker();

  // Opens storage and metadata and binds the listeners. The error names what failed.
  result<void, std::string> start();
  // Serves until a graceful stop completes.
  void run();
  // Graceful stop: stop accepting, finish in-flight requests, flush, close. Thread-safe.
  void request_stop();
  std::vector<uint16_t> bound_ports() const;
  boost::asio::io_context& io();

 private:
  struct impl;
  std::unique_ptr<impl> _impl;
};

}  // namespace gregor::server
