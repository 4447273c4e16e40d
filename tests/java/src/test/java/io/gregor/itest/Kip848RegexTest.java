package io.gregor.itest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidRegularExpression;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Proves KIP-848 regex subscriptions: a consumer with group.protocol=consumer subscribed to a
 * SubscriptionPattern (resolved by the broker) reads the records of the two topics matching it,
 * ignores a topic that does not match, and picks up a matching topic created while it runs; a
 * pattern the broker cannot compile fails poll() with InvalidRegularExpression. Also proves the
 * server-side range assignor is chosen by group.remote.assignor=range (the group describes it) and
 * two members split a topic into two contiguous ranges.
 */
class Kip848RegexTest {
    private static final String BOOTSTRAP = System.getProperty("bootstrap", "127.0.0.1:9092");

    @Test
    void pattern_subscription_reads_matching_topics_and_one_created_later() throws Exception {
        String prefix = "rx" + UUID.randomUUID().toString().replace("-", "").substring(0, 10);
        String a = prefix + "-a", b = prefix + "-b", other = prefix + "x-c", later = prefix + "-later";
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, prefix + "-group");
        cp.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        try (Admin admin = Admin.create(ap);
             KafkaProducer<String, String> producer = new KafkaProducer<>(pp);
             KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            admin.createTopics(List.of(new NewTopic(a, 2, (short) 1), new NewTopic(b, 1, (short) 1),
                                       new NewTopic(other, 1, (short) 1)))
                 .all().get(30, TimeUnit.SECONDS);
            for (String t : List.of(a, b, other)) {
                producer.send(new ProducerRecord<>(t, "k", t + ":0")).get(30, TimeUnit.SECONDS);
            }
            consumer.subscribe(new SubscriptionPattern(prefix + "-.*"));
            Set<String> seen = new HashSet<>();
            pollUntil(consumer, seen, Set.of(a + ":0", b + ":0"));

            admin.createTopics(List.of(new NewTopic(later, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
            producer.send(new ProducerRecord<>(later, "k", later + ":0")).get(30, TimeUnit.SECONDS);
            pollUntil(consumer, seen, Set.of(a + ":0", b + ":0", later + ":0"));
            assertTrue(!seen.contains(other + ":0"), "read a topic that does not match: " + seen);
            assertEquals(Set.of(a + ":0", b + ":0", later + ":0"), seen);
        }
    }

    @Test
    void invalid_pattern_fails_poll_with_invalid_regular_expression() {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, "rx-invalid-" + UUID.randomUUID());
        cp.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            consumer.subscribe(new SubscriptionPattern("rx-(["));
            assertThrows(InvalidRegularExpression.class, () -> {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (System.nanoTime() < deadline) {
                    consumer.poll(Duration.ofMillis(500));
                }
            });
        }
    }

    @Test
    void range_remote_assignor_is_used_and_gives_members_contiguous_ranges() throws Exception {
        String topic = "range-" + UUID.randomUUID();
        String group = topic + "-group";
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        cp.put(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, "range");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        try (Admin admin = Admin.create(ap);
             KafkaConsumer<String, String> c1 = new KafkaConsumer<>(cp);
             KafkaConsumer<String, String> c2 = new KafkaConsumer<>(cp)) {
            admin.createTopics(List.of(new NewTopic(topic, 4, (short) 1))).all().get(30, TimeUnit.SECONDS);
            c1.subscribe(List.of(topic));
            c2.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (System.nanoTime() < deadline && (c1.assignment().size() != 2 || c2.assignment().size() != 2)) {
                c1.poll(Duration.ofMillis(200));
                c2.poll(Duration.ofMillis(200));
            }
            assertEquals(2, c1.assignment().size(), "c1 " + c1.assignment() + " c2 " + c2.assignment());
            assertEquals(2, c2.assignment().size(), "c1 " + c1.assignment() + " c2 " + c2.assignment());
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all()
                    .get(30, TimeUnit.SECONDS).get(group);
            assertEquals("range", d.partitionAssignor());
            // Contiguous ranges; which member gets which depends on who joined first (sticky).
            Set<Set<TopicPartition>> got = new HashSet<>();
            for (MemberDescription m : d.members()) got.add(m.assignment().topicPartitions());
            assertEquals(Set.of(Set.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1)),
                                Set.of(new TopicPartition(topic, 2), new TopicPartition(topic, 3))), got);
        }
    }

    private static void pollUntil(KafkaConsumer<String, String> consumer, Set<String> seen, Set<String> want) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (!seen.containsAll(want) && System.nanoTime() < deadline) {
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                seen.add(r.value());
            }
        }
        assertTrue(seen.containsAll(want), "wanted " + want + ", read " + seen);
    }
}
