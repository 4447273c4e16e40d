// The authorization matrix behind tests/integration/test_authz_matrix.py (issue 14): for each API,
// the Java client (kafka-clients 4.3.1) logged in as alice (PLAIN, no rights unless granted) with
// exactly the ACLs needed to reach the API but not the one it checks, then again once the missing
// ACL is granted. Resources are created by admin (a super user); every case starts from no ACL for
// alice and waits until each grant or revoke shows in DescribeAcls (the authorizer's own view)
// before acting.
//
// Run in source-file mode:
//   java -cp "$(tests/tools/kafka-classpath.sh)" tests/tools/AuthzMatrix.java BOOTSTRAP ADMIN_PW ALICE_PW [CASES]
// CASES: comma-separated case names to run (default all). Prints one JSON line per case:
//   {"case":..., "api":..., "denied_with":..., "allowed_with":..., "detail":...}
// where denied_with/allowed_with are "ok", an exception's simple class name, or a quiet verdict
// ("hidden"/"visible", "ops=[...]"). It judges nothing: the Python test holds the expectations.
// Exits 0 once every case has printed its line.

import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.function.*;
import java.util.stream.*;

import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.acl.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.resource.*;
import org.apache.kafka.common.serialization.*;

public class AuthzMatrix {
    static final String ALICE = "User:alice";
    static final String CAROL = "User:carol-authz"; // the principal alice's own ACL changes name
    static final long OP_TIMEOUT_S = 30;   // every future
    static final long GUARD_TIMEOUT_S = 45; // one whole attempt, whatever it does
    static final long ACL_WAIT_MS = 15000;

    static String bootstrap, adminPassword, alicePassword;
    static Admin admin, alice;
    static KafkaProducer<byte[], byte[]> adminProducer;
    static int brokerId;
    static String run = UUID.randomUUID().toString().substring(0, 8);
    static int seq = 0;
    static Set<String> only = null;
    static final ExecutorService pool = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r);
        t.setDaemon(true);
        return t;
    });

    // ---- outcomes

    /** What one attempt came to: "ok", an exception's simple name, or a quiet verdict. */
    record Outcome(String verdict, String detail) {}

    interface Op { Outcome run() throws Exception; }

    static Outcome ok(String detail) { return new Outcome("ok", detail); }
    static Outcome seen(boolean visible, String detail) { return new Outcome(visible ? "visible" : "hidden", detail); }
    static Outcome ops(Set<AclOperation> ops) {
        if (ops == null) return new Outcome("ops=null", "authorized operations not returned");
        return new Outcome("ops=" + ops.stream().map(Enum::name).sorted().collect(Collectors.toList()), "");
    }

    static Throwable unwrap(Throwable t) {
        while (t.getCause() != null && (t instanceof ExecutionException || t instanceof CompletionException
                || t.getClass() == KafkaException.class)) {
            t = t.getCause();
        }
        return t;
    }

    static Outcome attempt(Op op) {
        Future<Outcome> f = pool.submit(op::run);
        try {
            return f.get(GUARD_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            return new Outcome("HarnessTimeout", "no answer within " + GUARD_TIMEOUT_S + "s");
        } catch (Throwable e) {
            Throwable t = unwrap(e);
            return new Outcome(verdictOf(t), String.valueOf(t.getMessage()));
        }
    }

    /** The exception's simple name; for a bare KafkaException that only quotes an error code in
     * its message ("Unexpected error in TxnOffsetCommitResponse: Topic authorization failed."),
     * KafkaException(THAT_ERROR). */
    static String verdictOf(Throwable t) {
        String name = t.getClass().getSimpleName();
        if (t.getClass() != KafkaException.class || t.getMessage() == null) return name;
        for (org.apache.kafka.common.protocol.Errors err : org.apache.kafka.common.protocol.Errors.values()) {
            if (err != org.apache.kafka.common.protocol.Errors.NONE && err.message() != null
                    && t.getMessage().endsWith(": " + err.message())) {
                return name + "(" + err.name() + ")";
            }
        }
        return name;
    }

    static <T> T get(KafkaFuture<T> f) throws Exception { return f.get(OP_TIMEOUT_S, TimeUnit.SECONDS); }
    static <T> T get(Future<T> f) throws Exception { return f.get(OP_TIMEOUT_S, TimeUnit.SECONDS); }

    static void expect(boolean condition, String what) {
        if (!condition) throw new AssertionError(what);
    }

    // ---- JSON out

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : (s == null ? "" : s).toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static synchronized void emit(String name, String api, Outcome denied, Outcome allowed, String note) {
        String detail = "denied: " + denied.detail() + " | allowed: " + allowed.detail() + (note.isEmpty() ? "" : " | " + note);
        if (detail.length() > 1500) detail = detail.substring(0, 1500) + "...";
        System.out.println("{\"case\":" + json(name) + ",\"api\":" + json(api) + ",\"denied_with\":" + json(denied.verdict())
                + ",\"allowed_with\":" + json(allowed.verdict()) + ",\"detail\":" + json(detail) + "}");
        System.out.flush();
    }

    // ---- clients

    static Properties sasl(String user, String password) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("security.protocol", "SASL_PLAINTEXT");
        p.put("sasl.mechanism", "PLAIN");
        p.put("sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
                + user + "\" password=\"" + password + "\";");
        p.put("request.timeout.ms", "10000");
        return p;
    }

    static Properties aliceProps() { return sasl("alice", alicePassword); }
    static Properties adminProps() { return sasl("admin", adminPassword); }

    static Admin newAdmin(Properties p) {
        p.put("default.api.timeout.ms", "20000");
        p.put("retry.backoff.max.ms", "500");
        return Admin.create(p);
    }

    static KafkaProducer<byte[], byte[]> producer(Properties p, Map<String, String> extra) {
        p.put("acks", "all");
        p.put("linger.ms", "0");
        p.put("max.block.ms", "15000");
        p.put("delivery.timeout.ms", "20000");
        p.put("retry.backoff.max.ms", "500");
        p.putAll(extra);
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    static KafkaConsumer<byte[], byte[]> consumer(Properties p, String group, boolean kip848) {
        if (group != null) {
            p.put("group.id", group);
            p.put("group.protocol", kip848 ? "consumer" : "classic");
            if (!kip848) {
                p.put("session.timeout.ms", "6000");
                p.put("heartbeat.interval.ms", "500");
            }
        }
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        p.put("default.api.timeout.ms", "15000");
        p.put("retry.backoff.max.ms", "500");
        return new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    // ---- names and ACLs

    static String name(String what) { return "authz-" + run + "-" + what + "-" + (++seq); }

    static AclBinding acl(ResourceType type, String name, AclOperation op) {
        return new AclBinding(new ResourcePattern(type, name, PatternType.LITERAL),
                new AccessControlEntry(ALICE, "*", op, AclPermissionType.ALLOW));
    }
    static AclBinding topic(String n, AclOperation op) { return acl(ResourceType.TOPIC, n, op); }
    static AclBinding group(String n, AclOperation op) { return acl(ResourceType.GROUP, n, op); }
    static AclBinding txn(String n, AclOperation op) { return acl(ResourceType.TRANSACTIONAL_ID, n, op); }
    static AclBinding cluster(AclOperation op) { return acl(ResourceType.CLUSTER, "kafka-cluster", op); }
    static List<AclBinding> acls(AclBinding... b) { return List.of(b); }
    static final List<AclBinding> NONE = List.of();

    static AclBindingFilter principalFilter(String principal) {
        return new AclBindingFilter(ResourcePatternFilter.ANY,
                new AccessControlEntryFilter(principal, null, AclOperation.ANY, AclPermissionType.ANY));
    }

    /** Waits until DescribeAcls (as admin: the broker authorizer's own ACL set) satisfies `done`. */
    static void awaitAcls(AclBindingFilter filter, Predicate<Collection<AclBinding>> done, String what) throws Exception {
        long deadline = System.currentTimeMillis() + ACL_WAIT_MS;
        Collection<AclBinding> last = null;
        while (System.currentTimeMillis() < deadline) {
            last = get(admin.describeAcls(filter).values());
            if (done.test(last)) return;
            Thread.sleep(20);
        }
        throw new IllegalStateException("ACLs never showed " + what + "; last DescribeAcls: " + last);
    }

    static void grant(List<AclBinding> bindings) throws Exception {
        if (bindings.isEmpty()) return;
        get(admin.createAcls(bindings).all());
        for (AclBinding b : bindings) awaitAcls(b.toFilter(), c -> !c.isEmpty(), "the grant " + b);
    }

    static void revoke(AclBinding b) throws Exception {
        get(admin.deleteAcls(List.of(b.toFilter())).all());
        awaitAcls(b.toFilter(), Collection::isEmpty, "the revoke of " + b);
    }

    static void revokeAll() throws Exception {
        List<AclBindingFilter> filters = List.of(principalFilter(ALICE), principalFilter(CAROL));
        get(admin.deleteAcls(filters).all());
        for (AclBindingFilter f : filters) awaitAcls(f, Collection::isEmpty, "no ACL for " + f.entryFilter().principal());
    }

    // ---- the case runner

    static boolean wanted(String name) { return only == null || only.contains(name); }

    /** Starts from no ACL for alice, grants `reach`, runs `denied`; grants `missing`, runs `allowed`. */
    static void check(String name, String api, List<AclBinding> reach, Op denied, List<AclBinding> missing, Op allowed) {
        check(name, api, reach, denied, missing, allowed, "");
    }

    static void check(String name, String api, List<AclBinding> reach, Op denied, List<AclBinding> missing, Op allowed,
                      String note) {
        if (!wanted(name)) return;
        Outcome d, a;
        try {
            revokeAll();
            grant(reach);
        } catch (Throwable e) {
            Outcome o = new Outcome("SetupFailed", String.valueOf(unwrap(e)));
            emit(name, api, o, o, note);
            return;
        }
        d = attempt(denied);
        try {
            grant(missing);
        } catch (Throwable e) {
            emit(name, api, d, new Outcome("SetupFailed", String.valueOf(unwrap(e))), note);
            return;
        }
        a = attempt(allowed);
        emit(name, api, d, a, note);
    }

    /** Setup as admin for a group of cases; a failure there is reported on each of the cases. */
    interface Setup { void run() throws Exception; }

    static boolean setup(List<String> cases, Setup s) {
        if (cases.stream().noneMatch(AuthzMatrix::wanted)) return false;
        try {
            s.run();
            return true;
        } catch (Throwable e) {
            Outcome o = new Outcome("SetupFailed", String.valueOf(unwrap(e)));
            for (String c : cases) if (wanted(c)) emit(c, "setup", o, o, "");
            return false;
        }
    }

    // ---- admin's resources

    static void createTopic(String t, int partitions) throws Exception {
        get(admin.createTopics(List.of(new NewTopic(t, partitions, (short) 1))).all());
    }

    static void produceAsAdmin(String t, int partition, int count) throws Exception {
        for (int i = 0; i < count; i++) {
            get(adminProducer.send(new ProducerRecord<>(t, partition, null, ("v" + i).getBytes())));
        }
    }

    static String topicWithRecords(String what, int records) throws Exception {
        String t = name(what);
        createTopic(t, 1);
        produceAsAdmin(t, 0, records);
        return t;
    }

    /** A classic group without members whose offset for t-0 is `offset` (Admin's OffsetCommit). */
    static void commitAsAdmin(String group, String t, long offset) throws Exception {
        get(admin.alterConsumerGroupOffsets(group, Map.of(new TopicPartition(t, 0), new OffsetAndMetadata(offset))).all());
    }

    /** A transactional id that has committed one transaction on t. */
    static void transactionAsAdmin(String txnId, String t) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = producer(adminProps(), Map.of("transactional.id", txnId))) {
            p.initTransactions();
            p.beginTransaction();
            get(p.send(new ProducerRecord<>(t, 0, null, "txn".getBytes())));
            p.commitTransaction();
        }
    }

    // ---- alice's operations

    /** alice subscribes `group` to `t` and polls until she has read `expected` records. */
    static Outcome consumeAsAlice(String group, String t, int expected, boolean kip848) {
        try (KafkaConsumer<byte[], byte[]> c = consumer(aliceProps(), group, kip848)) {
            c.subscribe(List.of(t));
            int read = 0;
            long deadline = System.currentTimeMillis() + 25000;
            while (read < expected && System.currentTimeMillis() < deadline) {
                read += c.poll(Duration.ofMillis(200)).count();
            }
            expect(read >= expected, "read " + read + " of " + expected + " records within 25s");
            return ok("read " + read);
        }
    }

    static Outcome produceAsAlice(String t, Map<String, String> extra) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = producer(aliceProps(), extra)) {
            RecordMetadata md = get(p.send(new ProducerRecord<>(t, 0, null, "alice".getBytes())));
            return ok("offset " + md.offset());
        }
    }

    /** alice's transaction of one record to t; `midway` runs after the send, before the commit. */
    static Outcome transactionAsAlice(String txnId, String t, Setup midway, String offsetsGroup) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = producer(aliceProps(), Map.of("transactional.id", txnId))) {
            p.initTransactions();
            p.beginTransaction();
            get(p.send(new ProducerRecord<>(t, 0, null, "alice-txn".getBytes())));
            if (offsetsGroup != null) {
                p.sendOffsetsToTransaction(Map.of(new TopicPartition(t, 0), new OffsetAndMetadata(1)),
                        new ConsumerGroupMetadata(offsetsGroup));
            }
            if (midway != null) midway.run();
            p.commitTransaction();
            return ok("committed");
        }
    }

    static Set<String> groupIds() throws Exception {
        return get(alice.listGroups().all()).stream().map(GroupListing::groupId).collect(Collectors.toSet());
    }

    // ---- the matrix

    static void topicCases() throws Exception {
        String[] t = new String[1];
        if (setup(List.of("metadata_list_topics", "metadata_topic", "describe_topics", "describe_topic_authorized_ops"),
                () -> t[0] = topicWithRecords("meta", 1))) {
            check("metadata_list_topics", "Metadata", NONE,
                    () -> seen(get(alice.listTopics().names()).contains(t[0]), ""),
                    acls(topic(t[0], AclOperation.DESCRIBE)),
                    () -> seen(get(alice.listTopics().names()).contains(t[0]), ""));
            Op partitionsFor = () -> {
                try (KafkaConsumer<byte[], byte[]> c = consumer(aliceProps(), null, false)) {
                    return ok(c.partitionsFor(t[0], Duration.ofSeconds(15)).size() + " partitions");
                }
            };
            check("metadata_topic", "Metadata", NONE, partitionsFor, acls(topic(t[0], AclOperation.DESCRIBE)), partitionsFor,
                    "KafkaConsumer.partitionsFor");
            Op describe = () -> ok(get(alice.describeTopics(List.of(t[0])).allTopicNames()).get(t[0]).partitions().size()
                    + " partitions");
            check("describe_topics", "DescribeTopicPartitions", NONE, describe, acls(topic(t[0], AclOperation.DESCRIBE)),
                    describe, "Admin.describeTopics");
            Op describeOps = () -> ops(get(alice.describeTopics(List.of(t[0]),
                    new DescribeTopicsOptions().includeAuthorizedOperations(true)).allTopicNames()).get(t[0]).authorizedOperations());
            check("describe_topic_authorized_ops", "DescribeTopicPartitions", acls(topic(t[0], AclOperation.DESCRIBE)),
                    describeOps, acls(topic(t[0], AclOperation.WRITE)), describeOps);
        }

        if (wanted("create_topics")) {
            String n = name("create");
            Op create = () -> { get(alice.createTopics(List.of(new NewTopic(n, 1, (short) 1))).all()); return ok(""); };
            check("create_topics", "CreateTopics", NONE, create, acls(topic(n, AclOperation.CREATE)), create);
        }
        if (wanted("create_topics_cluster")) {
            String n = name("create-cl");
            Op create = () -> { get(alice.createTopics(List.of(new NewTopic(n, 1, (short) 1))).all()); return ok(""); };
            check("create_topics_cluster", "CreateTopics", NONE, create, acls(cluster(AclOperation.CREATE)), create);
        }
        if (setup(List.of("delete_topics"), () -> t[0] = topicWithRecords("delete", 1))) {
            Op delete = () -> { get(alice.deleteTopics(List.of(t[0])).all()); return ok(""); };
            check("delete_topics", "DeleteTopics", NONE, delete, acls(topic(t[0], AclOperation.DELETE)), delete);
        }
        if (setup(List.of("create_partitions"), () -> t[0] = topicWithRecords("parts", 1))) {
            Op grow = () -> { get(alice.createPartitions(Map.of(t[0], NewPartitions.increaseTo(2))).all()); return ok(""); };
            check("create_partitions", "CreatePartitions", NONE, grow, acls(topic(t[0], AclOperation.ALTER)), grow);
        }
        if (setup(List.of("describe_configs_topic", "alter_configs_topic"), () -> t[0] = topicWithRecords("configs", 1))) {
            ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, t[0]);
            Op describe = () -> ok(get(alice.describeConfigs(List.of(r)).all()).get(r).entries().size() + " entries");
            check("describe_configs_topic", "DescribeConfigs", NONE, describe,
                    acls(topic(t[0], AclOperation.DESCRIBE_CONFIGS)), describe);
            Op alter = () -> {
                get(alice.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(
                        new ConfigEntry("retention.ms", "3600000"), AlterConfigOp.OpType.SET)))).all());
                return ok("");
            };
            check("alter_configs_topic", "IncrementalAlterConfigs", NONE, alter,
                    acls(topic(t[0], AclOperation.ALTER_CONFIGS)), alter);
        }
        if (setup(List.of("delete_records"), () -> t[0] = topicWithRecords("delrec", 3))) {
            TopicPartition tp = new TopicPartition(t[0], 0);
            Op delete = () -> {
                long low = get(alice.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(2))).lowWatermarks().get(tp)).lowWatermark();
                expect(low == 2, "low watermark " + low + ", expected 2");
                return ok("low watermark 2");
            };
            check("delete_records", "DeleteRecords", acls(topic(t[0], AclOperation.DESCRIBE)), delete,
                    acls(topic(t[0], AclOperation.DELETE)), delete);
        }
        if (setup(List.of("list_offsets"), () -> t[0] = topicWithRecords("offsets", 3))) {
            TopicPartition tp = new TopicPartition(t[0], 0);
            Op list = () -> {
                long end = get(alice.listOffsets(Map.of(tp, OffsetSpec.latest())).all()).get(tp).offset();
                expect(end == 3, "end offset " + end + ", expected 3");
                return ok("end offset 3");
            };
            check("list_offsets", "ListOffsets", NONE, list, acls(topic(t[0], AclOperation.DESCRIBE)), list,
                    "the Admin's Metadata lookup needs the same Describe");
        }
        if (setup(List.of("describe_producers"), () -> t[0] = topicWithRecords("producers", 2))) {
            TopicPartition tp = new TopicPartition(t[0], 0);
            Op describe = () -> ok(get(alice.describeProducers(List.of(tp)).all()).get(tp).activeProducers().size()
                    + " producers");
            check("describe_producers", "DescribeProducers", acls(topic(t[0], AclOperation.DESCRIBE)), describe,
                    acls(topic(t[0], AclOperation.READ)), describe);
        }
        if (setup(List.of("produce"), () -> t[0] = topicWithRecords("produce", 0))) {
            Op produce = () -> produceAsAlice(t[0], Map.of("enable.idempotence", "false"));
            check("produce", "Produce", acls(topic(t[0], AclOperation.DESCRIBE)), produce,
                    acls(topic(t[0], AclOperation.WRITE)), produce, "enable.idempotence=false");
        }
        if (setup(List.of("idempotent_produce_topic_write", "idempotent_produce_cluster_idempotent_write"),
                () -> t[0] = topicWithRecords("idem", 0))) {
            Op produce = () -> produceAsAlice(t[0], Map.of("enable.idempotence", "true"));
            check("idempotent_produce_topic_write", "InitProducerId", acls(topic(t[0], AclOperation.DESCRIBE)), produce,
                    acls(topic(t[0], AclOperation.WRITE)), produce, "Write on a topic allows InitProducerId");
            check("idempotent_produce_cluster_idempotent_write", "InitProducerId", acls(topic(t[0], AclOperation.DESCRIBE)),
                    produce, acls(cluster(AclOperation.IDEMPOTENT_WRITE)), produce,
                    "with IdempotentWrite InitProducerId passes and Produce is then refused for the topic");
        }
    }

    static void clusterCases() throws Exception {
        ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, String.valueOf(brokerId));
        Op describeBroker = () -> ok(get(alice.describeConfigs(List.of(broker)).all()).get(broker).entries().size() + " entries");
        check("describe_configs_broker", "DescribeConfigs", NONE, describeBroker,
                acls(cluster(AclOperation.DESCRIBE_CONFIGS)), describeBroker);
        Op alterBroker = () -> {
            get(alice.incrementalAlterConfigs(Map.of(broker, List.of(new AlterConfigOp(
                    new ConfigEntry("log.retention.ms", "604800000"), AlterConfigOp.OpType.SET)))).all());
            return ok("");
        };
        check("alter_configs_broker", "IncrementalAlterConfigs", NONE, alterBroker,
                acls(cluster(AclOperation.ALTER_CONFIGS)), alterBroker);
        Op logDirs = () -> ok(get(alice.describeLogDirs(List.of(brokerId)).allDescriptions()).get(brokerId).size() + " dirs");
        check("describe_log_dirs", "DescribeLogDirs", NONE, logDirs, acls(cluster(AclOperation.DESCRIBE)), logDirs);
        Op listReassign = () -> ok(get(alice.listPartitionReassignments().reassignments()).size() + " reassignments");
        check("list_partition_reassignments", "ListPartitionReassignments", NONE, listReassign,
                acls(cluster(AclOperation.DESCRIBE)), listReassign);

        String[] t = new String[1];
        if (setup(List.of("alter_partition_reassignments", "elect_leaders"), () -> t[0] = topicWithRecords("reassign", 1))) {
            TopicPartition tp = new TopicPartition(t[0], 0);
            Op reassign = () -> {
                get(alice.alterPartitionReassignments(Map.of(tp, Optional.of(new NewPartitionReassignment(List.of(brokerId)))))
                        .all());
                return ok("");
            };
            check("alter_partition_reassignments", "AlterPartitionReassignments", NONE, reassign,
                    acls(cluster(AclOperation.ALTER)), reassign, "a reassignment to the current replica");
            Op elect = () -> {
                Optional<Throwable> r = get(alice.electLeaders(ElectionType.PREFERRED, Set.of(tp)).partitions()).get(tp);
                if (r != null && r.isPresent() && !(r.get() instanceof org.apache.kafka.common.errors.ElectionNotNeededException)) {
                    throw (Exception) r.get();
                }
                return ok(r == null || r.isEmpty() ? "elected" : "election not needed");
            };
            check("elect_leaders", "ElectLeaders", NONE, elect, acls(cluster(AclOperation.ALTER)), elect);
        }

        if (wanted("update_features")) {
            Op update = () -> {
                Map<String, FinalizedVersionRange> finalized = get(admin.describeFeatures().featureMetadata()).finalizedFeatures();
                FinalizedVersionRange mv = finalized.get("metadata.version");
                expect(mv != null, "no finalized metadata.version: " + finalized);
                get(alice.updateFeatures(Map.of("metadata.version", new FeatureUpdate(mv.maxVersionLevel(),
                        FeatureUpdate.UpgradeType.UPGRADE)), new UpdateFeaturesOptions().validateOnly(true)).all());
                return ok("metadata.version " + mv.maxVersionLevel() + " validated");
            };
            check("update_features", "UpdateFeatures", NONE, update, acls(cluster(AclOperation.ALTER)), update,
                    "validateOnly, the current metadata.version");
        }

        Op describeAcls = () -> ok(get(alice.describeAcls(AclBindingFilter.ANY).values()).size() + " bindings");
        check("describe_acls", "DescribeAcls", NONE, describeAcls, acls(cluster(AclOperation.DESCRIBE)), describeAcls);
        if (wanted("create_acls")) {
            String n = name("acl");
            Op create = () -> {
                get(alice.createAcls(List.of(new AclBinding(new ResourcePattern(ResourceType.TOPIC, n, PatternType.LITERAL),
                        new AccessControlEntry(CAROL, "*", AclOperation.READ, AclPermissionType.ALLOW)))).all());
                return ok("");
            };
            check("create_acls", "CreateAcls", NONE, create, acls(cluster(AclOperation.ALTER)), create);
        }
        if (wanted("delete_acls")) {
            String n = name("acl");
            AclBinding carols = new AclBinding(new ResourcePattern(ResourceType.TOPIC, n, PatternType.LITERAL),
                    new AccessControlEntry(CAROL, "*", AclOperation.READ, AclPermissionType.ALLOW));
            Op delete = () -> {
                Collection<AclBinding> gone = get(alice.deleteAcls(List.of(carols.toFilter())).all());
                expect(gone.size() == 1, "deleted " + gone);
                return ok("deleted 1");
            };
            check("delete_acls", "DeleteAcls", NONE, () -> {
                grant(List.of(carols)); // as admin: the binding alice then tries to delete
                return delete.run();
            }, acls(cluster(AclOperation.ALTER)), delete);
        }

        Op describeScram = () -> ok(get(alice.describeUserScramCredentials().all()).size() + " users");
        check("describe_user_scram_credentials", "DescribeUserScramCredentials", NONE, describeScram,
                acls(cluster(AclOperation.DESCRIBE)), describeScram);
        if (wanted("alter_user_scram_credentials")) {
            String user = name("user");
            Op alter = () -> {
                get(alice.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(user,
                        new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), "secret"))).all());
                return ok("");
            };
            check("alter_user_scram_credentials", "AlterUserScramCredentials", NONE, alter,
                    acls(cluster(AclOperation.ALTER)), alter);
        }
        Op quotas = () -> ok(get(alice.describeClientQuotas(ClientQuotaFilter.all()).entities()).size() + " entities");
        check("describe_client_quotas", "DescribeClientQuotas", NONE, quotas,
                acls(cluster(AclOperation.DESCRIBE_CONFIGS)), quotas);
        if (wanted("alter_client_quotas")) {
            ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.CLIENT_ID, name("client")));
            Op alterQuotas = () -> {
                get(alice.alterClientQuotas(List.of(new ClientQuotaAlteration(entity,
                        List.of(new ClientQuotaAlteration.Op("producer_byte_rate", 1048576.0))))).all());
                return ok("");
            };
            check("alter_client_quotas", "AlterClientQuotas", NONE, alterQuotas,
                    acls(cluster(AclOperation.ALTER_CONFIGS)), alterQuotas);
        }
        Op quorum = () -> ok("leader " + get(alice.describeMetadataQuorum().quorumInfo()).leaderId());
        check("describe_metadata_quorum", "DescribeQuorum", NONE, quorum, acls(cluster(AclOperation.DESCRIBE)), quorum);
        Op clusterOps = () -> ops(get(alice.describeCluster(new DescribeClusterOptions().includeAuthorizedOperations(true))
                .authorizedOperations()));
        check("describe_cluster_authorized_ops", "DescribeCluster", NONE, clusterOps,
                acls(cluster(AclOperation.ALTER)), clusterOps);
    }

    static void groupCases() throws Exception {
        String[] t = new String[2];
        String[] g = new String[2];

        // Classic groups that exist only through committed offsets (Admin's OffsetCommit as admin).
        if (setup(List.of("offset_fetch_group", "offset_fetch_topics", "describe_classic_groups", "list_groups",
                "list_groups_cluster"), () -> {
            t[0] = topicWithRecords("ofetch", 3);
            g[0] = name("group");
            commitAsAdmin(g[0], t[0], 2);
        })) {
            TopicPartition tp = new TopicPartition(t[0], 0);
            Op fetch = () -> {
                Map<TopicPartition, OffsetAndMetadata> m = get(alice.listConsumerGroupOffsets(g[0]).partitionsToOffsetAndMetadata());
                return seen(m.containsKey(tp), m.toString());
            };
            check("offset_fetch_group", "OffsetFetch", NONE, fetch, acls(group(g[0], AclOperation.DESCRIBE)), fetch,
                    "FindCoordinator (group) needs the same Describe");
            check("offset_fetch_topics", "OffsetFetch", acls(group(g[0], AclOperation.DESCRIBE)), fetch,
                    acls(topic(t[0], AclOperation.DESCRIBE)), fetch);
            Op describe = () -> {
                ClassicGroupDescription d = get(alice.describeClassicGroups(List.of(g[0])).all()).get(g[0]);
                return ok("state " + d.state());
            };
            check("describe_classic_groups", "DescribeGroups", NONE, describe, acls(group(g[0], AclOperation.DESCRIBE)),
                    describe);
            check("list_groups", "ListGroups", NONE, () -> seen(groupIds().contains(g[0]), ""),
                    acls(group(g[0], AclOperation.DESCRIBE)), () -> seen(groupIds().contains(g[0]), ""));
            check("list_groups_cluster", "ListGroups", NONE, () -> seen(groupIds().contains(g[0]), ""),
                    acls(cluster(AclOperation.DESCRIBE)), () -> seen(groupIds().contains(g[0]), ""),
                    "Describe on the cluster shows every group");
        }
        if (setup(List.of("delete_groups"), () -> {
            t[0] = topicWithRecords("delgroup", 1);
            g[0] = name("group");
            commitAsAdmin(g[0], t[0], 1);
        })) {
            Op delete = () -> { get(alice.deleteConsumerGroups(List.of(g[0])).all()); return ok(""); };
            check("delete_groups", "DeleteGroups", acls(group(g[0], AclOperation.DESCRIBE)), delete,
                    acls(group(g[0], AclOperation.DELETE)), delete);
        }
        for (String which : List.of("group", "topic")) {
            String c = "offset_commit_" + which;
            if (setup(List.of(c), () -> { t[0] = topicWithRecords("ocommit", 3); g[0] = name("group"); })) {
                Op commit = () -> {
                    get(alice.alterConsumerGroupOffsets(g[0], Map.of(new TopicPartition(t[0], 0), new OffsetAndMetadata(2))).all());
                    return ok("");
                };
                if (which.equals("group")) {
                    check(c, "OffsetCommit", acls(group(g[0], AclOperation.DESCRIBE), topic(t[0], AclOperation.READ)), commit,
                            acls(group(g[0], AclOperation.READ)), commit);
                } else {
                    check(c, "OffsetCommit", acls(group(g[0], AclOperation.READ)), commit,
                            acls(topic(t[0], AclOperation.READ)), commit);
                }
            }
            String d = "offset_delete_" + which;
            if (setup(List.of(d), () -> { t[0] = topicWithRecords("odelete", 3); g[0] = name("group"); commitAsAdmin(g[0], t[0], 2); })) {
                Op delete = () -> {
                    get(alice.deleteConsumerGroupOffsets(g[0], Set.of(new TopicPartition(t[0], 0))).all());
                    return ok("");
                };
                if (which.equals("group")) {
                    check(d, "OffsetDelete", acls(group(g[0], AclOperation.DESCRIBE), topic(t[0], AclOperation.READ)), delete,
                            acls(group(g[0], AclOperation.DELETE)), delete);
                } else {
                    check(d, "OffsetDelete", acls(group(g[0], AclOperation.DELETE)), delete,
                            acls(topic(t[0], AclOperation.READ)), delete);
                }
            }
        }

        // Consumers: the classic protocol (JoinGroup/SyncGroup/Heartbeat, then OffsetFetch, ListOffsets, Fetch)
        // and KIP-848's ConsumerGroupHeartbeat.
        for (boolean kip848 : List.of(false, true)) {
            String proto = kip848 ? "consumer_kip848" : "consumer_classic";
            String groupApi = kip848 ? "ConsumerGroupHeartbeat" : "JoinGroup";
            if (setup(List.of(proto + "_group"), () -> { t[0] = topicWithRecords("consume", 3); g[0] = name("group"); })) {
                check(proto + "_group", groupApi,
                        acls(group(g[0], AclOperation.DESCRIBE), topic(t[0], AclOperation.READ)),
                        () -> consumeAsAlice(g[0], t[0], 3, kip848), acls(group(g[0], AclOperation.READ)),
                        () -> consumeAsAlice(g[0], t[0], 3, kip848));
            }
            if (setup(List.of(proto + "_topic"), () -> { t[0] = topicWithRecords("consume", 3); g[0] = name("group"); })) {
                List<AclBinding> reach = kip848 ? acls(group(g[0], AclOperation.READ))
                        : acls(group(g[0], AclOperation.READ), topic(t[0], AclOperation.DESCRIBE));
                check(proto + "_topic", kip848 ? "ConsumerGroupHeartbeat/Metadata" : "Fetch", reach,
                        () -> consumeAsAlice(g[0], t[0], 3, kip848), acls(topic(t[0], AclOperation.READ)),
                        () -> consumeAsAlice(g[0], t[0], 3, kip848),
                        kip848 ? "no Describe on the subscribed topic" : "Describe but no Read on the topic");
            }
        }

        // A KIP-848 regex subscription resolves only to the topics alice may Describe (Kafka's
        // filterTopicDescribeAuthorizedTopics): two matching topics, Read (implying Describe) on the
        // first only.
        if (setup(List.of("consumer_kip848_regex"), () -> {
            t[0] = topicWithRecords("rx", 2);
            t[1] = topicWithRecords("rx", 2);
            g[0] = name("group");
            g[1] = name("group");
        })) {
            String regex = "authz-" + run + "-rx-[0-9]+";
            int[] attempt = {0};
            Op regexConsume = () -> {
                // A fresh group per attempt: its regex is resolved with the ACLs of that moment.
                try (KafkaConsumer<byte[], byte[]> c = consumer(aliceProps(), g[attempt[0]++], true)) {
                    c.subscribe(new SubscriptionPattern(regex));
                    int read = 0;
                    long deadline = System.currentTimeMillis() + 25000;
                    while (read < 2 && System.currentTimeMillis() < deadline) {
                        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200)))
                            if (r.topic().equals(t[0])) ++read;
                    }
                    expect(read >= 2, "read " + read + " of 2 records of the describable topic within 25s");
                    // Both topics match the one regex: resolved together, assigned together.
                    boolean second = c.assignment().stream().anyMatch(tp -> tp.topic().equals(t[1]));
                    return seen(second, "assignment " + c.assignment());
                }
            };
            check("consumer_kip848_regex", "ConsumerGroupHeartbeat",
                    acls(group(g[0], AclOperation.READ), group(g[1], AclOperation.READ), topic(t[0], AclOperation.READ)),
                    regexConsume, acls(topic(t[1], AclOperation.READ)), regexConsume,
                    "the regex matches two topics; Read (which implies Describe) on the second is what is missing");
        }

        // A KIP-848 group with one live member (admin's consumer) owning t-0: ConsumerGroupDescribe.
        List<String> cgCases = List.of("consumer_group_describe_group", "consumer_group_describe_topics",
                "consumer_group_authorized_ops");
        KafkaConsumer<byte[], byte[]>[] member = new KafkaConsumer[1];
        if (setup(cgCases, () -> {
            t[0] = topicWithRecords("cgdescribe", 2);
            g[0] = name("group");
            member[0] = consumer(adminProps(), g[0], true);
            member[0].subscribe(List.of(t[0]));
            int read = 0;
            long deadline = System.currentTimeMillis() + 25000;
            while (read < 2 && System.currentTimeMillis() < deadline) read += member[0].poll(Duration.ofMillis(200)).count();
            expect(read >= 2, "admin's KIP-848 consumer read " + read + " of 2 records");
            member[0].commitSync(Duration.ofSeconds(15));
        })) {
            try {
                Op describe = () -> {
                    ConsumerGroupDescription d = get(alice.describeConsumerGroups(List.of(g[0])).all()).get(g[0]);
                    return ok(d.groupState() + ", " + d.members().size() + " members");
                };
                check("consumer_group_describe_group", "ConsumerGroupDescribe", acls(topic(t[0], AclOperation.DESCRIBE)), describe,
                        acls(group(g[0], AclOperation.DESCRIBE)), describe);
                check("consumer_group_describe_topics", "ConsumerGroupDescribe", acls(group(g[0], AclOperation.DESCRIBE)), describe,
                        acls(topic(t[0], AclOperation.DESCRIBE)), describe, "a member owns a topic alice may not describe");
                Op groupOps = () -> ops(get(alice.describeConsumerGroups(List.of(g[0]),
                        new DescribeConsumerGroupsOptions().includeAuthorizedOperations(true)).all()).get(g[0]).authorizedOperations());
                check("consumer_group_authorized_ops", "ConsumerGroupDescribe",
                        acls(group(g[0], AclOperation.DESCRIBE), topic(t[0], AclOperation.DESCRIBE)), groupOps,
                        acls(group(g[0], AclOperation.READ)), groupOps);
            } finally {
                member[0].close(CloseOptions.timeout(Duration.ofSeconds(15)));
            }
        } else if (member[0] != null) {
            member[0].close(CloseOptions.timeout(Duration.ofSeconds(15)));
        }
    }

    static void transactionCases() throws Exception {
        String[] t = new String[1];
        String[] x = new String[1];
        String[] g = new String[1];

        if (setup(List.of("describe_transactions", "list_transactions"), () -> {
            t[0] = topicWithRecords("txn", 0);
            x[0] = name("txn");
            transactionAsAdmin(x[0], t[0]);
        })) {
            Op describe = () -> ok("state " + get(alice.describeTransactions(List.of(x[0])).all()).get(x[0]).state());
            check("describe_transactions", "DescribeTransactions", NONE, describe,
                    acls(txn(x[0], AclOperation.DESCRIBE)), describe, "FindCoordinator (transaction) needs the same Describe");
            Op list = () -> seen(get(alice.listTransactions().all()).stream().anyMatch(l -> l.transactionalId().equals(x[0])), "");
            check("list_transactions", "ListTransactions", NONE, list, acls(txn(x[0], AclOperation.DESCRIBE)), list);
        }
        if (setup(List.of("fence_producers"), () -> {
            t[0] = topicWithRecords("fence", 0);
            x[0] = name("txn");
            transactionAsAdmin(x[0], t[0]);
        })) {
            Op fence = () -> { get(alice.fenceProducers(List.of(x[0])).all()); return ok(""); };
            check("fence_producers", "InitProducerId", acls(txn(x[0], AclOperation.DESCRIBE)), fence,
                    acls(txn(x[0], AclOperation.WRITE)), fence, "Admin.fenceProducers");
        }
        if (setup(List.of("txn_init_producer_id"), () -> { t[0] = topicWithRecords("txn", 0); x[0] = name("txn"); })) {
            Op txn = () -> transactionAsAlice(x[0], t[0], null, null);
            check("txn_init_producer_id", "InitProducerId",
                    acls(txn(x[0], AclOperation.DESCRIBE), topic(t[0], AclOperation.WRITE)), txn,
                    acls(txn(x[0], AclOperation.WRITE)), txn);
        }
        if (setup(List.of("txn_add_partitions_topic"), () -> { t[0] = topicWithRecords("txn", 0); x[0] = name("txn"); })) {
            Op txn = () -> transactionAsAlice(x[0], t[0], null, null);
            check("txn_add_partitions_topic", "AddPartitionsToTxn",
                    acls(txn(x[0], AclOperation.WRITE), topic(t[0], AclOperation.DESCRIBE)), txn,
                    acls(topic(t[0], AclOperation.WRITE)), txn, "Write on the topic missing");
        }
        if (setup(List.of("txn_add_partitions_revoked"), () -> { t[0] = topicWithRecords("txn", 0); x[0] = name("txn"); })) {
            AclBinding write = txn(x[0], AclOperation.WRITE);
            Op denied = () -> {
                try (KafkaProducer<byte[], byte[]> p = producer(aliceProps(), Map.of("transactional.id", x[0]))) {
                    p.initTransactions();
                    revoke(write);
                    p.beginTransaction();
                    get(p.send(new ProducerRecord<>(t[0], 0, null, "x".getBytes())));
                    p.commitTransaction();
                    return ok("committed");
                }
            };
            check("txn_add_partitions_revoked", "AddPartitionsToTxn",
                    acls(write, topic(t[0], AclOperation.WRITE)), denied, acls(write),
                    () -> transactionAsAlice(x[0], t[0], null, null), "Write on the transactional id revoked after InitProducerId");
        }
        if (setup(List.of("txn_end_revoked"), () -> { t[0] = topicWithRecords("txn", 0); x[0] = name("txn"); })) {
            AclBinding write = txn(x[0], AclOperation.WRITE);
            check("txn_end_revoked", "EndTxn", acls(write, topic(t[0], AclOperation.WRITE)),
                    () -> transactionAsAlice(x[0], t[0], () -> revoke(write), null), acls(write),
                    () -> transactionAsAlice(x[0], t[0], null, null), "Write on the transactional id revoked before the commit");
        }
        if (setup(List.of("txn_send_offsets_group"), () -> { t[0] = topicWithRecords("txn", 0); x[0] = name("txn"); g[0] = name("group"); })) {
            Op txn = () -> {
                transactionAsAlice(x[0], t[0], null, g[0]);
                Map<TopicPartition, OffsetAndMetadata> m = get(admin.listConsumerGroupOffsets(g[0]).partitionsToOffsetAndMetadata());
                OffsetAndMetadata o = m.get(new TopicPartition(t[0], 0));
                expect(o != null && o.offset() == 1, "the group's committed offsets after the commit: " + m);
                return ok("offset 1 committed");
            };
            check("txn_send_offsets_group", "AddOffsetsToTxn/TxnOffsetCommit",
                    acls(txn(x[0], AclOperation.WRITE), topic(t[0], AclOperation.WRITE), topic(t[0], AclOperation.READ),
                            group(g[0], AclOperation.DESCRIBE)), txn, acls(group(g[0], AclOperation.READ)), txn);
        }
        if (setup(List.of("txn_offset_commit_topic"), () -> { t[0] = topicWithRecords("txn", 0); x[0] = name("txn"); g[0] = name("group"); })) {
            Op txn = () -> transactionAsAlice(x[0], t[0], null, g[0]);
            check("txn_offset_commit_topic", "TxnOffsetCommit",
                    acls(txn(x[0], AclOperation.WRITE), topic(t[0], AclOperation.WRITE), group(g[0], AclOperation.READ)), txn,
                    acls(topic(t[0], AclOperation.READ)), txn, "Read on the topic missing");
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: AuthzMatrix BOOTSTRAP ADMIN_PASSWORD ALICE_PASSWORD [CASE,...]");
            System.exit(2);
        }
        bootstrap = args[0];
        adminPassword = args[1];
        alicePassword = args[2];
        if (args.length > 3 && !args[3].isEmpty()) only = new HashSet<>(Arrays.asList(args[3].split(",")));
        long t0 = System.currentTimeMillis();
        admin = newAdmin(adminProps());
        alice = newAdmin(aliceProps());
        adminProducer = producer(adminProps(), Map.of());
        try {
            brokerId = get(admin.describeCluster().nodes()).iterator().next().id();
            topicCases();
            clusterCases();
            groupCases();
            transactionCases();
            revokeAll();
        } finally {
            adminProducer.close(Duration.ofSeconds(10));
            alice.close(Duration.ofSeconds(10));
            admin.close(Duration.ofSeconds(10));
        }
        System.err.println("AuthzMatrix done in " + (System.currentTimeMillis() - t0) + " ms");
        System.exit(0);
    }
}
