package io.gregor.itest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Java client's transactions against the broker named by {@code bootstrap} (issue #13): commit
 * and abort seen through read_committed and read_uncommitted consumers, the last stable offset
 * holding back a read_committed consumer while a transaction is open, a zombie fenced by a new
 * instance, consume-transform-produce with sendOffsetsToTransaction, a transaction left open past
 * its timeout aborted by the broker, and the admin's list/describe of transactions.
 */
class TransactionsTest {
    private static final String BOOTSTRAP = System.getProperty("bootstrap", "127.0.0.1:9092");
    private static final long TIMEOUT_S = 30;
    private static Admin admin;

    @BeforeAll
    static void open_admin() {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 20000);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        admin = Admin.create(props);
    }

    @AfterAll
    static void close_admin() {
        admin.close(Duration.ofSeconds(10));
    }

    private static String unique(String prefix) {
        return "itest-txn-" + prefix + "-" + UUID.randomUUID().toString().substring(0, 12);
    }

    private static void create_topic(String name, int partitions) throws Exception {
        admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (true) {
            try {
                TopicDescription d = admin.describeTopics(List.of(name)).allTopicNames()
                        .get(TIMEOUT_S, TimeUnit.SECONDS).get(name);
                if (d.partitions().size() == partitions && d.partitions().stream().allMatch(p -> p.leader() != null)) {
                    return;
                }
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) throw e;
            }
            if (System.nanoTime() > deadline) throw new AssertionError("topic not ready: " + name);
            Thread.sleep(200);
        }
    }

    private static KafkaProducer<String, String> txn_producer(String txnId, Integer timeoutMs) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 60000);
        if (timeoutMs != null) props.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, timeoutMs);
        KafkaProducer<String, String> p = new KafkaProducer<>(props);
        p.initTransactions();
        return p;
    }

    private static KafkaConsumer<String, String> consumer(boolean readCommitted, String group) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, readCommitted ? "read_committed" : "read_uncommitted");
        if (group != null) props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        return new KafkaConsumer<>(props);
    }

    /** Reads every partition of `topic` from the start until `expected` values or the timeout. */
    private static List<String> read_values(String topic, int partitions, boolean readCommitted, int expected) {
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = consumer(readCommitted, null)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < partitions; i++) tps.add(new TopicPartition(topic, i));
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (out.size() < expected && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) out.add(r.value());
            }
            // Nothing beyond `expected` either: read up to the end the isolation level allows.
            Map<TopicPartition, Long> ends = c.endOffsets(tps);
            while (tps.stream().anyMatch(tp -> c.position(tp) < ends.get(tp)) && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(300))) out.add(r.value());
            }
        }
        return out;
    }

    private static List<String> values(String prefix, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(prefix + "-" + i);
        return out;
    }

    private static List<String> sorted(List<String> l) {
        return l.stream().sorted().collect(Collectors.toList());
    }

    @Test
    void read_committed_sees_committed_transactions_only_and_read_uncommitted_sees_everything() throws Exception {
        String topic = unique("commit-abort");
        create_topic(topic, 2);
        try (KafkaProducer<String, String> p = txn_producer(unique("id"), null)) {
            p.beginTransaction();
            for (String v : values("first", 10)) p.send(new ProducerRecord<>(topic, v, v));
            p.commitTransaction();
            p.beginTransaction();
            for (String v : values("aborted", 10)) p.send(new ProducerRecord<>(topic, v, v));
            p.flush();
            p.abortTransaction();
            p.beginTransaction();
            for (String v : values("second", 5)) p.send(new ProducerRecord<>(topic, v, v));
            p.commitTransaction();
        }
        List<String> committed = new ArrayList<>(values("first", 10));
        committed.addAll(values("second", 5));
        assertEquals(sorted(committed), sorted(read_values(topic, 2, true, 15)));
        List<String> all = new ArrayList<>(committed);
        all.addAll(values("aborted", 10));
        assertEquals(sorted(all), sorted(read_values(topic, 2, false, 25)));
    }

    @Test
    void an_open_transaction_holds_back_the_last_stable_offset_until_it_commits() throws Exception {
        String topic = unique("lso");
        create_topic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        Properties plain = new Properties();
        plain.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        plain.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        plain.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> p = txn_producer(unique("id"), null);
             KafkaProducer<String, String> other = new KafkaProducer<>(plain);
             KafkaConsumer<String, String> rc = consumer(true, null);
             KafkaConsumer<String, String> ru = consumer(false, null)) {
            other.send(new ProducerRecord<>(topic, "before")).get(TIMEOUT_S, TimeUnit.SECONDS);
            p.beginTransaction();
            long txnStart = p.send(new ProducerRecord<>(topic, "in-txn")).get(TIMEOUT_S, TimeUnit.SECONDS).offset();
            other.send(new ProducerRecord<>(topic, "after")).get(TIMEOUT_S, TimeUnit.SECONDS);
            // read_committed: the end is the first offset of the open transaction.
            assertEquals(txnStart, (long) rc.endOffsets(List.of(tp)).get(tp));
            assertEquals(txnStart + 2, (long) ru.endOffsets(List.of(tp)).get(tp));
            p.commitTransaction();
            // The marker follows "after": everything below it is stable now.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (rc.endOffsets(List.of(tp)).get(tp) < txnStart + 3 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(txnStart + 3, (long) rc.endOffsets(List.of(tp)).get(tp));
        }
        assertEquals(List.of("before", "in-txn", "after"), read_values(topic, 1, true, 3));
    }

    @Test
    void a_new_instance_fences_the_zombie_and_aborts_its_open_transaction() throws Exception {
        String topic = unique("zombie");
        create_topic(topic, 1);
        String id = unique("id");
        KafkaProducer<String, String> zombie = txn_producer(id, null);
        try {
            zombie.beginTransaction();
            zombie.send(new ProducerRecord<>(topic, "zombie")).get(TIMEOUT_S, TimeUnit.SECONDS);
            try (KafkaProducer<String, String> fresh = txn_producer(id, null)) {
                KafkaException e = assertThrows(KafkaException.class, zombie::commitTransaction);
                assertTrue(e instanceof ProducerFencedException
                                || e.getCause() instanceof ProducerFencedException
                                || e.getClass().getSimpleName().contains("InvalidProducerEpoch"),
                        "zombie commit failed with " + e);
                fresh.beginTransaction();
                fresh.send(new ProducerRecord<>(topic, "fresh"));
                fresh.commitTransaction();
            }
        } finally {
            zombie.close(Duration.ZERO);
        }
        assertEquals(List.of("fresh"), read_values(topic, 1, true, 1));
    }

    @Test
    void consume_transform_produce_commits_offsets_with_the_transaction() throws Exception {
        String in = unique("ctp-in");
        String out = unique("ctp-out");
        String group = unique("ctp-group");
        create_topic(in, 1);
        create_topic(out, 1);
        try (KafkaProducer<String, String> seed = txn_producer(unique("seed"), null)) {
            seed.beginTransaction();
            for (String v : values("in", 20)) seed.send(new ProducerRecord<>(in, v));
            seed.commitTransaction();
        }
        TopicPartition inTp = new TopicPartition(in, 0);
        try (KafkaProducer<String, String> p = txn_producer(unique("ctp"), null);
             KafkaConsumer<String, String> c = consumer(true, group)) {
            c.subscribe(List.of(in));
            int seen = 0;
            boolean abortedOnce = false;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (seen < 20 && System.nanoTime() < deadline) {
                var records = c.poll(Duration.ofMillis(300));
                if (records.isEmpty()) continue;
                p.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<String, String> r : records) {
                    p.send(new ProducerRecord<>(out, r.value().toUpperCase()));
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                p.sendOffsetsToTransaction(offsets, c.groupMetadata());
                if (!abortedOnce) {
                    // The first batch is aborted: its output vanishes and its offsets are not
                    // committed, so it is consumed again from the last committed position.
                    abortedOnce = true;
                    p.abortTransaction();
                    OffsetAndMetadata committed = c.committed(java.util.Set.of(inTp)).get(inTp);
                    c.seek(inTp, committed == null ? 0 : committed.offset());
                    continue;
                }
                p.commitTransaction();
                seen += records.count();
            }
            assertEquals(20, seen);
        }
        Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata().get(TIMEOUT_S, TimeUnit.SECONDS);
        assertEquals(20L, committed.get(inTp).offset());
        List<String> expected = values("in", 20).stream().map(String::toUpperCase).collect(Collectors.toList());
        assertEquals(expected, read_values(out, 1, true, 20));
    }

    @Test
    void a_transaction_left_open_past_its_timeout_is_aborted_by_the_broker() throws Exception {
        String topic = unique("timeout");
        create_topic(topic, 1);
        String id = unique("id");
        try (KafkaProducer<String, String> p = txn_producer(id, 1000)) {
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, "abandoned")).get(TIMEOUT_S, TimeUnit.SECONDS);
            // The coordinator checks every transaction.abort.timed.out.transaction.cleanup.interval.ms.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            TransactionState state = null;
            while (System.nanoTime() < deadline) {
                TransactionDescription d = admin.describeTransactions(List.of(id)).description(id)
                        .get(TIMEOUT_S, TimeUnit.SECONDS);
                state = d.state();
                if (state == TransactionState.COMPLETE_ABORT) break;
                Thread.sleep(200);
            }
            assertEquals(TransactionState.COMPLETE_ABORT, state);
            assertThrows(KafkaException.class, p::commitTransaction);
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> rc = consumer(true, null)) {
            // The abort marker follows the record: the stable end is past both, and nothing is readable.
            assertEquals(2L, (long) rc.endOffsets(List.of(tp)).get(tp));
        }
        assertEquals(List.of(), read_values(topic, 1, true, 0));
    }

    @Test
    void admin_lists_and_describes_transactions() throws Exception {
        String topic = unique("admin");
        create_topic(topic, 3);
        String id = unique("id");
        try (KafkaProducer<String, String> p = txn_producer(id, 45000)) {
            p.beginTransaction();
            p.send(new ProducerRecord<>(topic, 0, "k", "v0")).get(TIMEOUT_S, TimeUnit.SECONDS);
            p.send(new ProducerRecord<>(topic, 2, "k", "v2")).get(TIMEOUT_S, TimeUnit.SECONDS);
            TransactionDescription d = admin.describeTransactions(List.of(id)).description(id)
                    .get(TIMEOUT_S, TimeUnit.SECONDS);
            assertEquals(TransactionState.ONGOING, d.state());
            assertEquals(45000, d.transactionTimeoutMs());
            assertTrue(d.transactionStartTimeMs().isPresent());
            assertEquals(java.util.Set.of(new TopicPartition(topic, 0), new TopicPartition(topic, 2)),
                    d.topicPartitions());
            List<String> ongoing = admin.listTransactions().all().get(TIMEOUT_S, TimeUnit.SECONDS).stream()
                    .filter(l -> l.state() == TransactionState.ONGOING)
                    .map(TransactionListing::transactionalId).collect(Collectors.toList());
            assertTrue(ongoing.contains(id), "ongoing transactions: " + ongoing);
            p.commitTransaction();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (System.nanoTime() < deadline) {
                d = admin.describeTransactions(List.of(id)).description(id).get(TIMEOUT_S, TimeUnit.SECONDS);
                if (d.state() == TransactionState.COMPLETE_COMMIT) break;
                Thread.sleep(100);
            }
            assertEquals(TransactionState.COMPLETE_COMMIT, d.state());
            assertTrue(d.topicPartitions().isEmpty());
        }
    }
}
