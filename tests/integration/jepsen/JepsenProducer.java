// A Jepsen writer for tests/integration/test_cluster_jepsen.py: an idempotent acks=all Java producer
// that writes unique values "<writer>-<seq>" round robin over the partitions of one topic (seq 1, 2,
// ... so a writer's values within a partition must appear in increasing order) and prints one line
// per outcome on stdout:
//   ACK <partition> <offset> <value>      acknowledged (the offset the broker acknowledged it at)
//   ERR <partition> <value> <exception class> <message>    delivery failed
//   DONE sent=<n> acked=<n> failed=<n>    after stdin closed, everything flushed, the producer closed
// Usage: java -cp <kafka-clients classpath>:<dir> JepsenProducer <bootstrap> <topic> <partitions> <writer> <interval_ms>
// Writes until stdin reaches EOF (the test closes it), then flushes and exits.
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class JepsenProducer {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        int partitions = Integer.parseInt(args[2]);
        String writer = args[3];
        long intervalMs = Long.parseLong(args[4]);
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false,
                                          StandardCharsets.UTF_8);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "300000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "300000");
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "jepsen-" + writer);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());

        final Object lock = new Object();
        final AtomicLong acked = new AtomicLong();
        final AtomicLong failed = new AtomicLong();
        final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        Thread stdinWatcher = new Thread(() -> {
            try (InputStream in = System.in) {
                while (in.read() >= 0) { }
            } catch (Exception ignored) {
            }
            stop.set(true);
        }, "stdin-watcher");
        stdinWatcher.setDaemon(true);
        stdinWatcher.start();

        long sent = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            long seq = 0;
            while (!stop.get()) {
                seq++;
                final int partition = (int) (seq % partitions);
                final String value = String.format("%s-%010d", writer, seq);
                producer.send(new ProducerRecord<>(topic, partition, null, value.getBytes(StandardCharsets.UTF_8)),
                    (md, err) -> {
                        synchronized (lock) {
                            if (err == null) {
                                acked.incrementAndGet();
                                out.println("ACK " + md.partition() + " " + md.offset() + " " + value);
                            } else {
                                failed.incrementAndGet();
                                String msg = String.valueOf(err.getMessage()).replace('\n', ' ');
                                out.println("ERR " + partition + " " + value + " " + err.getClass().getName() + " " + msg);
                            }
                            out.flush();
                        }
                    });
                sent++;
                Thread.sleep(intervalMs);
            }
            producer.flush();
        }
        synchronized (lock) {
            out.println("DONE sent=" + sent + " acked=" + acked.get() + " failed=" + failed.get());
            out.flush();
        }
    }
}
