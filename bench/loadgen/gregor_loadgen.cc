// gregor_loadgen: a native Kafka load generator on librdkafka, used by bench/compare to drive Gregor
// and Apache Kafka with the same client, tuned so the client is not the bottleneck.
//
//   gregor_loadgen produce --bootstrap H:P --topic T [--partitions N] [--replication-factor R]
//                          [--record-size B] [--count N | --duration-s S] [--acks 0|1|all]
//                          [--rate-mbps R (0 = max)] [--linger-ms L] [--batch-size B]
//   gregor_loadgen consume --bootstrap H:P --topic T [--timeout-s S]
//   (produce and consume also take -X name=value, any number: librdkafka settings applied last)
//   gregor_loadgen create  --bootstrap H:P --topic T --partitions N [--replication-factor R]
//   gregor_loadgen delete  --bootstrap H:P --topic T
//
// Every mode prints one JSON object on stdout (the figures) and progress/errors on stderr; the exit
// status is 0 only when every record was delivered (produce) or read (consume). Produce creates the
// topic first when --partitions is given (an existing topic is fine). Latencies are per record, from
// the produce() call to its delivery report (librdkafka's rd_kafka_message_latency), so they include
// batching (linger.ms) and the broker's acknowledgement. Consume reads every partition from offset 0
// up to the high watermark it saw at start (MB/s counts key+value bytes).
//
// Threading: one application thread; librdkafka runs its own broker threads. Delivery reports are
// served on the application thread, woken through a pipe (rd_kafka_queue_io_event_enable) so a
// rate-limited run wakes up for the next send or the next report, whichever comes first.
#include <librdkafka/rdkafka.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "gregor_loadgen: %s\n", what.c_str());
  std::exit(2);
}

struct options {
  std::string mode;
  std::string bootstrap = "127.0.0.1:9092";
  std::string topic;
  int32_t partitions = 0;  // 0 = do not create the topic (produce), required for create
  int32_t replication_factor = 1;  // of a topic this run creates
  int32_t record_size_bytes = 1024;
  int64_t count = 0;        // records to produce; 0 = use duration
  double duration_s = 10;   // produce duration when count is 0
  std::string acks = "1";
  double rate_mbps = 0;     // 0 = as fast as possible; MB = 10^6 bytes
  int32_t linger_ms = 5;
  int32_t batch_size_bytes = 1000000;
  double timeout_s = 120;   // consume: give up after this long
  std::vector<std::pair<std::string, std::string>> extra;  // -X name=value, applied last
};

options parse(int argc, char** argv) {
  if (argc < 2) die("usage: gregor_loadgen produce|consume|create|delete --bootstrap H:P --topic T ...");
  options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string name = argv[i];
    if (i + 1 >= argc) die("missing value for " + name);
    std::string value = argv[++i];
    try {
      if (name == "--bootstrap") o.bootstrap = value;
      else if (name == "--topic") o.topic = value;
      else if (name == "--partitions") o.partitions = std::stoi(value);
      else if (name == "--replication-factor") o.replication_factor = std::stoi(value);
      else if (name == "--record-size") o.record_size_bytes = std::stoi(value);
      else if (name == "--count") o.count = std::stoll(value);
      else if (name == "--duration-s") o.duration_s = std::stod(value);
      else if (name == "--acks") o.acks = value;
      else if (name == "--rate-mbps") o.rate_mbps = std::stod(value);
      else if (name == "--linger-ms") o.linger_ms = std::stoi(value);
      else if (name == "--batch-size") o.batch_size_bytes = std::stoi(value);
      else if (name == "--timeout-s") o.timeout_s = std::stod(value);
      else if (name == "-X") {
        const auto eq = value.find('=');
        if (eq == std::string::npos || eq == 0) die("-X takes name=value, got " + value);
        o.extra.emplace_back(value.substr(0, eq), value.substr(eq + 1));
      }
      else die("unknown option " + name);
    } catch (const std::logic_error&) {
      die("bad value for " + name + ": " + value);
    }
  }
  if (o.topic.empty()) die("--topic is required");
  if (o.record_size_bytes < 1) die("--record-size must be >= 1");
  if (o.replication_factor < 1) die("--replication-factor must be >= 1");
  if (o.acks != "0" && o.acks != "1" && o.acks != "all" && o.acks != "-1") die("--acks must be 0, 1 or all");
  return o;
}

void set(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    die(std::string("config ") + name + "=" + value + ": " + err);
  }
}

rd_kafka_t* make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) die(std::string("rd_kafka_new: ") + err);
  return rk;
}

// The topic's partition count from metadata, retried for ~5 s (a topic just created may not be
// visible yet); exits when the topic never shows up.
int32_t partition_count(rd_kafka_t* rk, rd_kafka_topic_t* topic, const std::string& name) {
  int32_t partitions = 0;
  for (int attempt = 0; partitions <= 0 && attempt < 50; ++attempt) {
    const rd_kafka_metadata_t* metadata = nullptr;
    if (rd_kafka_metadata(rk, 0, topic, &metadata, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        partitions = metadata->topics[0].partition_cnt;
      }
      rd_kafka_metadata_destroy(metadata);
    }
    if (partitions <= 0) usleep(100000);
  }
  if (partitions <= 0) die("topic " + name + " has no partitions (does it exist?)");
  return partitions;
}

// Creates (or deletes) a topic with the admin API; "already exists" / "unknown" count as done.
bool admin_topic(const options& o, bool create) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o.bootstrap);
  rd_kafka_t* rk = make_client(RD_KAFKA_PRODUCER, conf);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* admin_options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
  char err[512];
  rd_kafka_AdminOptions_set_operation_timeout(admin_options, 30000, err, sizeof err);
  rd_kafka_AdminOptions_set_request_timeout(admin_options, 30000, err, sizeof err);
  rd_kafka_NewTopic_t* new_topic = nullptr;
  rd_kafka_DeleteTopic_t* delete_topic = nullptr;
  if (create) {
    new_topic = rd_kafka_NewTopic_new(o.topic.c_str(), o.partitions, o.replication_factor, err, sizeof err);
    if (new_topic == nullptr) die(std::string("NewTopic: ") + err);
    rd_kafka_CreateTopics(rk, &new_topic, 1, admin_options, queue);
  } else {
    delete_topic = rd_kafka_DeleteTopic_new(o.topic.c_str());
    rd_kafka_DeleteTopics(rk, &delete_topic, 1, admin_options, queue);
  }
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, 60000);
  bool done = false;
  std::string message = "timed out";
  if (event != nullptr) {
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      message = rd_kafka_event_error_string(event);
    } else {
      size_t n = 0;
      const rd_kafka_topic_result_t** results =
          create ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &n)
                 : rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &n);
      if (n == 1) {
        rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[0]);
        done = code == RD_KAFKA_RESP_ERR_NO_ERROR ||
               (create && code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) ||
               (!create && code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
        message = rd_kafka_err2str(code);
      }
    }
    rd_kafka_event_destroy(event);
  }
  if (!done) std::fprintf(stderr, "gregor_loadgen: %s topic %s: %s\n", create ? "create" : "delete", o.topic.c_str(), message.c_str());
  if (new_topic != nullptr) rd_kafka_NewTopic_destroy(new_topic);
  if (delete_topic != nullptr) rd_kafka_DeleteTopic_destroy(delete_topic);
  rd_kafka_AdminOptions_destroy(admin_options);
  rd_kafka_queue_destroy(queue);
  rd_kafka_destroy(rk);
  return done;
}

// Counts delivery reports; owned by run_produce, touched only on the application thread.
struct delivery_stats {
  int64_t delivered = 0;
  int64_t failed = 0;
  int64_t delivered_bytes = 0;
  std::vector<int64_t> latencies_us;
  std::map<int32_t, int64_t> per_partition;
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* stats = static_cast<delivery_stats*>(opaque);
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (stats->failed++ == 0) stats->first_error = rd_kafka_err2str(message->err);
    return;
  }
  ++stats->delivered;
  stats->delivered_bytes += static_cast<int64_t>(message->len + message->key_len);
  stats->per_partition[message->partition] += 1;
  stats->latencies_us.push_back(rd_kafka_message_latency(message));
}

double percentile_ms(std::vector<int64_t>& sorted_us, double p) {
  if (sorted_us.empty()) return 0;
  auto index = static_cast<size_t>(p * static_cast<double>(sorted_us.size() - 1) + 0.5);
  return static_cast<double>(sorted_us[std::min(index, sorted_us.size() - 1)]) / 1000.0;
}

// Waits until the report queue has something or until `wait_ns` passed, then serves reports.
void wait_and_serve(rd_kafka_t* rk, int wake_fd, int64_t wait_ns) {
  if (wait_ns > 0) {
    pollfd fd{wake_fd, POLLIN, 0};
    timespec timeout{static_cast<time_t>(wait_ns / 1000000000), static_cast<long>(wait_ns % 1000000000)};
    if (ppoll(&fd, 1, &timeout, nullptr) > 0) {
      char drain[256];
      while (read(wake_fd, drain, sizeof drain) == static_cast<ssize_t>(sizeof drain)) {
      }
    }
  }
  rd_kafka_poll(rk, 0);
}

int run_produce(const options& o) {
  if (o.partitions > 0 && !admin_topic(o, true)) return 1;
  delivery_stats stats;
  int64_t expected = o.count > 0 ? o.count : 0;
  stats.latencies_us.reserve(static_cast<size_t>(expected > 0 ? expected : 4 << 20));

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o.bootstrap);
  set(conf, "acks", o.acks == "all" ? "-1" : o.acks);
  set(conf, "linger.ms", std::to_string(o.linger_ms));
  set(conf, "batch.size", std::to_string(o.batch_size_bytes));
  set(conf, "batch.num.messages", "1000000");
  set(conf, "queue.buffering.max.kbytes", "131072");  // 128 MiB: keeps the pipe full, bounds the drain
  set(conf, "queue.buffering.max.messages", "10000000");
  set(conf, "compression.codec", "none");
  set(conf, "enable.idempotence", "false");
  set(conf, "max.in.flight.requests.per.connection", "5");
  set(conf, "socket.send.buffer.bytes", "4194304");
  set(conf, "message.timeout.ms", "120000");
  for (const auto& [name, value] : o.extra) set(conf, name.c_str(), value);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &stats);
  rd_kafka_t* rk = make_client(RD_KAFKA_PRODUCER, conf);

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2 failed");
  rd_kafka_queue_t* main_queue = rd_kafka_queue_get_main(rk);
  rd_kafka_queue_io_event_enable(main_queue, pipe_fds[1], "1", 1);

  // Learn the partition count (the topic may have been created by someone else).
  rd_kafka_topic_t* topic = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  const int32_t partitions = o.partitions > 0 ? o.partitions : partition_count(rk, topic, o.topic);

  std::vector<char> payload(static_cast<size_t>(o.record_size_bytes));
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  for (char& c : payload) {  // incompressible-ish bytes; compression is off anyway
    seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
    c = static_cast<char>(seed);
  }
  // Sticky partitioning: a run of one batch's worth of records per partition, round robin.
  const int64_t sticky_records = std::max<int64_t>(1, o.batch_size_bytes / o.record_size_bytes);
  const double bytes_per_ns = o.rate_mbps * 1e6 / 1e9;
  const auto start = clock_type::now();
  const auto end = start + std::chrono::nanoseconds(static_cast<int64_t>(o.duration_s * 1e9));
  int64_t sent = 0;
  int64_t queue_full_waits = 0;
  for (;;) {
    auto now = clock_type::now();
    if (o.count > 0 ? sent >= o.count : now >= end) break;
    if (bytes_per_ns > 0) {
      auto elapsed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count();
      int64_t due = static_cast<int64_t>(static_cast<double>(elapsed_ns) * bytes_per_ns / o.record_size_bytes) + 1;
      if (sent >= due) {
        double next_ns = static_cast<double>(sent) * o.record_size_bytes / bytes_per_ns;
        wait_and_serve(rk, pipe_fds[0], static_cast<int64_t>(next_ns) - elapsed_ns);
        continue;
      }
    }
    int32_t partition = static_cast<int32_t>((sent / sticky_records) % partitions);
    if (rd_kafka_produce(topic, partition, 0, payload.data(), payload.size(), nullptr, 0, nullptr) != 0) {
      rd_kafka_resp_err_t err = rd_kafka_last_error();
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(std::string("produce: ") + rd_kafka_err2str(err));
      ++queue_full_waits;
      wait_and_serve(rk, pipe_fds[0], 1000000);
      continue;
    }
    ++sent;
    if ((sent & 63) == 0 || bytes_per_ns > 0) rd_kafka_poll(rk, 0);
  }
  while (stats.delivered + stats.failed < sent) {
    wait_and_serve(rk, pipe_fds[0], 100000000);
    if (seconds_since(start) > o.duration_s + 180) break;
  }
  const double elapsed_s = seconds_since(start);
  rd_kafka_queue_io_event_enable(main_queue, -1, nullptr, 0);
  rd_kafka_queue_destroy(main_queue);
  rd_kafka_topic_destroy(topic);
  rd_kafka_flush(rk, 10000);
  rd_kafka_destroy(rk);
  close(pipe_fds[0]);
  close(pipe_fds[1]);

  std::sort(stats.latencies_us.begin(), stats.latencies_us.end());
  std::string per_partition;
  for (auto& [p, n] : stats.per_partition) {
    per_partition += (per_partition.empty() ? "" : ",") + std::string("\"") + std::to_string(p) + "\":" + std::to_string(n);
  }
  std::printf(
      "{\"mode\":\"produce\",\"topic\":\"%s\",\"partitions\":%d,\"record_size_bytes\":%d,\"acks\":\"%s\","
      "\"rate_mbps_target\":%.1f,\"linger_ms\":%d,\"batch_size_bytes\":%d,\"sent\":%" PRId64
      ",\"delivered\":%" PRId64 ",\"failed\":%" PRId64 ",\"bytes\":%" PRId64
      ",\"elapsed_s\":%.3f,\"mb_per_s\":%.2f,\"records_per_s\":%.0f,\"latency_ms_p50\":%.3f,"
      "\"latency_ms_p99\":%.3f,\"latency_ms_p999\":%.3f,\"latency_ms_max\":%.3f,\"queue_full_waits\":%" PRId64
      ",\"per_partition\":{%s},\"first_error\":\"%s\"}\n",
      o.topic.c_str(), partitions, o.record_size_bytes, o.acks.c_str(), o.rate_mbps, o.linger_ms,
      o.batch_size_bytes, sent, stats.delivered, stats.failed, stats.delivered_bytes, elapsed_s,
      static_cast<double>(stats.delivered_bytes) / 1e6 / elapsed_s, static_cast<double>(stats.delivered) / elapsed_s,
      percentile_ms(stats.latencies_us, 0.50), percentile_ms(stats.latencies_us, 0.99),
      percentile_ms(stats.latencies_us, 0.999),
      stats.latencies_us.empty() ? 0.0 : static_cast<double>(stats.latencies_us.back()) / 1000.0,
      queue_full_waits, per_partition.c_str(), stats.first_error.c_str());
  return stats.failed == 0 && stats.delivered == sent ? 0 : 1;
}

int run_consume(const options& o) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o.bootstrap);
  set(conf, "group.id", "gregor-loadgen-" + std::to_string(getpid()));
  set(conf, "enable.auto.commit", "false");
  set(conf, "enable.partition.eof", "true");
  set(conf, "auto.offset.reset", "earliest");
  set(conf, "fetch.message.max.bytes", "4194304");
  set(conf, "fetch.max.bytes", "52428800");
  set(conf, "fetch.wait.max.ms", "100");
  set(conf, "queued.max.messages.kbytes", "1048576");
  set(conf, "queued.min.messages", "1000000");
  set(conf, "socket.receive.buffer.bytes", "4194304");
  set(conf, "check.crcs", "false");
  for (const auto& [name, value] : o.extra) set(conf, name.c_str(), value);
  rd_kafka_t* rk = make_client(RD_KAFKA_CONSUMER, conf);
  rd_kafka_poll_set_consumer(rk);

  rd_kafka_topic_t* topic = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  const int32_t partitions = partition_count(rk, topic, o.topic);
  rd_kafka_topic_destroy(topic);

  // The end of each partition at start; the run reads up to there.
  int64_t expected = 0;
  std::vector<int64_t> high(static_cast<size_t>(partitions), 0);
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(partitions);
  for (int32_t p = 0; p < partitions; ++p) {
    int64_t low = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, o.topic.c_str(), p, &low, &high[p], 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) die(std::string("watermarks: ") + rd_kafka_err2str(err));
    expected += high[p] - low;
    rd_kafka_topic_partition_list_add(assignment, o.topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  const auto start = clock_type::now();
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk, assignment); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    die(std::string("assign: ") + rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_destroy(assignment);

  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk);
  std::vector<rd_kafka_message_t*> batch(10000);
  std::vector<int64_t> next_offset(static_cast<size_t>(partitions), 0);
  int64_t records = 0, bytes = 0, errors = 0;
  int32_t partitions_done = 0;
  for (int32_t p = 0; p < partitions; ++p) {
    if (high[p] == 0) ++partitions_done;
  }
  std::string first_error;
  auto last_progress = start;
  while (partitions_done < partitions && seconds_since(start) < o.timeout_s) {
    ssize_t n = rd_kafka_consume_batch_queue(queue, 100, batch.data(), batch.size());
    for (ssize_t i = 0; i < n; ++i) {
      rd_kafka_message_t* m = batch[static_cast<size_t>(i)];
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (m->partition >= 0 && m->partition < partitions && m->offset < high[m->partition]) {
          ++records;
          bytes += static_cast<int64_t>(m->len + m->key_len);
          int64_t& next = next_offset[m->partition];
          next = m->offset + 1;
          if (next == high[m->partition]) ++partitions_done;
        }
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (errors++ == 0) first_error = rd_kafka_message_errstr(m);
      }
      rd_kafka_message_destroy(m);
    }
    if (std::chrono::duration<double>(clock_type::now() - last_progress).count() > 5) {
      last_progress = clock_type::now();
      std::fprintf(stderr, "gregor_loadgen: consumed %" PRId64 "/%" PRId64 "\n", records, expected);
    }
  }
  const double elapsed_s = seconds_since(start);
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  std::printf(
      "{\"mode\":\"consume\",\"topic\":\"%s\",\"partitions\":%d,\"expected\":%" PRId64 ",\"records\":%" PRId64
      ",\"bytes\":%" PRId64 ",\"elapsed_s\":%.3f,\"mb_per_s\":%.2f,\"records_per_s\":%.0f,\"errors\":%" PRId64
      ",\"first_error\":\"%s\"}\n",
      o.topic.c_str(), partitions, expected, records, bytes, elapsed_s,
      static_cast<double>(bytes) / 1e6 / elapsed_s, static_cast<double>(records) / elapsed_s, errors,
      first_error.c_str());
  return records == expected ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  if (o.mode == "produce") return run_produce(o);
  if (o.mode == "consume") return run_consume(o);
  if (o.mode == "create") {
    if (o.partitions < 1) die("create needs --partitions >= 1");
    bool ok = admin_topic(o, true);
    std::printf("{\"mode\":\"create\",\"topic\":\"%s\",\"ok\":%s}\n", o.topic.c_str(), ok ? "true" : "false");
    return ok ? 0 : 1;
  }
  if (o.mode == "delete") {
    bool ok = admin_topic(o, false);
    std::printf("{\"mode\":\"delete\",\"topic\":\"%s\",\"ok\":%s}\n", o.topic.c_str(), ok ? "true" : "false");
    return ok ? 0 : 1;
  }
  die("unknown mode " + o.mode + " (produce, consume, create, delete)");
}
