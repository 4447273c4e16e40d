package io.gregor.itest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Proves ListOffsets answers the AdminClient's four kinds of lookup as Kafka does: earliest,
 * latest, the first offset at or after a timestamp, and the record with the largest timestamp.
 */
class ListOffsetsTest {
    private static final String BOOTSTRAP = System.getProperty("bootstrap", "127.0.0.1:9092");

    @Test
    void admin_list_offsets_by_earliest_latest_timestamp_and_max_timestamp() throws Exception {
        String topic = "java-list-offsets-" + UUID.randomUUID();
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, BOOTSTRAP);
            pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
            pp.put(ProducerConfig.LINGER_MS_CONFIG, 0);
            // Timestamps 1000, 5000 (the maximum), 3000, 4000: offsets 0..3, sent one by one.
            long base = System.currentTimeMillis() - 60_000;
            long[] ts = {base + 1000, base + 5000, base + 3000, base + 4000};
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
                for (int i = 0; i < ts.length; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, ts[i], "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
                }
            }
            TopicPartition tp = new TopicPartition(topic, 0);
            assertEquals(0, lookup(admin, tp, OffsetSpec.earliest()).offset());
            assertEquals(4, lookup(admin, tp, OffsetSpec.latest()).offset());
            ListOffsetsResultInfo max = lookup(admin, tp, OffsetSpec.maxTimestamp());
            assertEquals(1, max.offset());
            assertEquals(base + 5000, max.timestamp());
            ListOffsetsResultInfo at = lookup(admin, tp, OffsetSpec.forTimestamp(base + 2000));
            assertEquals(1, at.offset());
            assertEquals(base + 5000, at.timestamp());
            assertEquals(-1, lookup(admin, tp, OffsetSpec.forTimestamp(base + 9000)).offset());
            admin.deleteTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
        }
    }

    private static ListOffsetsResultInfo lookup(Admin admin, TopicPartition tp, OffsetSpec spec) throws Exception {
        Map<TopicPartition, ListOffsetsResultInfo> r =
                admin.listOffsets(Map.of(tp, spec)).all().get(30, TimeUnit.SECONDS);
        return r.get(tp);
    }
}
