package io.gregor.itest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Proves that the official Kafka Java clients (producer, consumer, admin) work unchanged against
 * the broker named by the system property {@code bootstrap}. The idempotent-producer test (Java's
 * default settings) runs only with {@code -Dtest.idempotence=true}, since it needs InitProducerId.
 */
class JavaClientsTest {
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

    private static String unique_topic(String prefix) {
        return "itest-java-" + prefix + "-" + UUID.randomUUID().toString().substring(0, 12);
    }

    private static void create_topic(String name, int partitions) throws Exception {
        admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1)))
                .all().get(TIMEOUT_S, TimeUnit.SECONDS);
        wait_for_partitions(name, partitions);
    }

    private static void wait_for_partitions(String name, int partitions) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (true) {
            try {
                TopicDescription d = admin.describeTopics(List.of(name)).allTopicNames()
                        .get(TIMEOUT_S, TimeUnit.SECONDS).get(name);
                if (d.partitions().size() == partitions
                        && d.partitions().stream().allMatch(p -> p.leader() != null)) {
                    return;
                }
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) throw e;
            }
            if (System.nanoTime() > deadline) throw new AssertionError("topic not ready: " + name);
            Thread.sleep(200);
        }
    }

    private static Properties producer_props(boolean defaults) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30000);
        if (!defaults) {
            props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
        }
        return props;
    }

    private static List<ConsumerRecord<String, String>> read_all(String topic, int partition, int expected) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            TopicPartition tp = new TopicPartition(topic, partition);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
            while (out.size() < expected && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(500)).forEach(out::add);
            }
            assertEquals(Map.of(tp, (long) expected), consumer.endOffsets(List.of(tp)));
        }
        return out;
    }

    private static void produce_and_read_back(boolean defaults) throws Exception {
        String topic = unique_topic(defaults ? "defaults" : "produce");
        create_topic(topic, 1);
        List<RecordMetadata> metas = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producer_props(defaults))) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                ProducerRecord<String, String> r = new ProducerRecord<>(topic, "k" + i, "v" + i);
                r.headers().add("n", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                futures.add(producer.send(r));
            }
            producer.flush();
            for (Future<RecordMetadata> f : futures) metas.add(f.get(TIMEOUT_S, TimeUnit.SECONDS));
        }
        for (int i = 0; i < 100; i++) assertEquals(i, metas.get(i).offset());
        List<ConsumerRecord<String, String>> records = read_all(topic, 0, 100);
        assertEquals(100, records.size());
        for (int i = 0; i < 100; i++) {
            ConsumerRecord<String, String> r = records.get(i);
            assertEquals(i, r.offset());
            assertEquals("k" + i, r.key());
            assertEquals("v" + i, r.value());
            assertEquals(Integer.toString(i),
                    new String(r.headers().lastHeader("n").value(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void producer_without_idempotence_sends_and_consumer_reads_back_in_order() throws Exception {
        produce_and_read_back(false);
    }

    @Test
    @EnabledIfSystemProperty(named = "test.idempotence", matches = "true")
    void producer_with_default_settings_is_idempotent_and_round_trips() throws Exception {
        produce_and_read_back(true);
    }

    @Test
    void compressed_producers_round_trip_every_codec() throws Exception {
        for (String codec : List.of("gzip", "snappy", "lz4", "zstd")) {
            String topic = unique_topic(codec);
            create_topic(topic, 1);
            Properties props = producer_props(false);
            props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
            props.put(ProducerConfig.LINGER_MS_CONFIG, 20);
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
                for (int i = 0; i < 200; i++) producer.send(new ProducerRecord<>(topic, "key" + i, codec + "-" + i));
                producer.flush();
            }
            List<ConsumerRecord<String, String>> records = read_all(topic, 0, 200);
            assertEquals(200, records.size(), codec);
            for (int i = 0; i < 200; i++) assertEquals(codec + "-" + i, records.get(i).value(), codec);
        }
    }

    @Test
    void admin_describes_cluster_with_one_broker() throws Exception {
        DescribeClusterResult cluster = admin.describeCluster();
        assertEquals(1, cluster.nodes().get(TIMEOUT_S, TimeUnit.SECONDS).size());
        assertNotNull(cluster.controller().get(TIMEOUT_S, TimeUnit.SECONDS));
        assertNotNull(cluster.clusterId().get(TIMEOUT_S, TimeUnit.SECONDS));
    }

    @Test
    void admin_creates_lists_describes_grows_configures_and_deletes_topics() throws Exception {
        String topic = unique_topic("admin");
        NewTopic nt = new NewTopic(topic, 2, (short) 1).configs(Map.of("retention.ms", "86400000"));
        admin.createTopics(List.of(nt)).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        wait_for_partitions(topic, 2);

        ExecutionException dup = assertThrows(ExecutionException.class, () ->
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(TIMEOUT_S, TimeUnit.SECONDS));
        assertInstanceOf(TopicExistsException.class, dup.getCause());

        Set<String> names = admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS);
        assertTrue(names.contains(topic));

        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(TIMEOUT_S, TimeUnit.SECONDS).get(topic);
        assertEquals(2, d.partitions().size());
        assertFalse(d.isInternal());
        assertNotNull(d.topicId());

        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = admin.describeConfigs(List.of(res)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(res);
        assertEquals("86400000", config.get("retention.ms").value());
        assertEquals("delete", config.get("cleanup.policy").value());
        assertTrue(config.get("cleanup.policy").isDefault());

        admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(4))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        wait_for_partitions(topic, 4);

        admin.deleteTopics(List.of(topic)).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
        while (admin.listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS).contains(topic)) {
            if (System.nanoTime() > deadline) throw new AssertionError("topic not deleted: " + topic);
            Thread.sleep(200);
        }
        ExecutionException gone = assertThrows(ExecutionException.class, () ->
                admin.describeTopics(List.of(topic)).allTopicNames().get(TIMEOUT_S, TimeUnit.SECONDS));
        assertInstanceOf(UnknownTopicOrPartitionException.class, gone.getCause());
    }

    @Test
    void keyed_records_stay_on_one_partition() throws Exception {
        String topic = unique_topic("keys");
        create_topic(topic, 3);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producer_props(false))) {
            for (String key : List.of("a", "b", "c", "d")) {
                Collection<Integer> partitions = new java.util.HashSet<>();
                for (int i = 0; i < 10; i++) {
                    partitions.add(producer.send(new ProducerRecord<>(topic, key, "x")).get(TIMEOUT_S, TimeUnit.SECONDS).partition());
                }
                assertEquals(1, partitions.size(), key);
            }
        }
    }
}
