// franz_txn: a consume-transform-produce loop with franz-go's GroupTransactSession (transactional
// producer plus group consumer, read_committed, offsets committed in the transaction). It writes
// -count records to a new input topic, transforms each into the output topic in transactions of at
// most -batch records, and exits non-zero unless a read_committed read of the output holds every
// transformed record exactly once and the group's committed offsets cover the whole input. Used by
// tests/integration/test_transactions.py.
//
//	go run . -bootstrap 127.0.0.1:9092 -in a -out b -group g -txn-id t -count 500
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "franz_txn: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "broker host:port[,host:port...]")
	in := flag.String("in", "franz-txn-in", "input topic (created)")
	out := flag.String("out", "franz-txn-out", "output topic (created)")
	group := flag.String("group", "franz-txn-group", "consumer group")
	txnID := flag.String("txn-id", "franz-txn", "transactional id")
	count := flag.Int("count", 500, "input records")
	partitions := flag.Int("partitions", 2, "partitions of both topics")
	rf := flag.Int("replication-factor", 1, "replication factor of both topics")
	timeoutS := flag.Int("timeout-s", 120, "time for the whole run")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*timeoutS)*time.Second)
	defer cancel()
	seeds := strings.Split(*bootstrap, ",")

	plain, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		fail("client: %v", err)
	}
	defer plain.Close()
	adm := kadm.NewClient(plain)
	for _, t := range []string{*in, *out} {
		if _, err := adm.CreateTopic(ctx, int32(*partitions), int16(*rf), nil, t); err != nil {
			fail("create topic %s: %v", t, err)
		}
	}
	for i := 0; i < *count; i++ {
		plain.Produce(ctx, &kgo.Record{Topic: *in, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%05d", i))},
			func(r *kgo.Record, err error) {
				if err != nil {
					fail("produce %s: %v", r.Value, err)
				}
			})
	}
	if err := plain.Flush(ctx); err != nil {
		fail("flush: %v", err)
	}

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(seeds...),
		kgo.TransactionalID(*txnID),
		kgo.TransactionTimeout(60*time.Second),
		kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(*in),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DefaultProduceTopic(*out),
	)
	if err != nil {
		fail("session: %v", err)
	}
	transformed := 0
	for transformed < *count {
		if ctx.Err() != nil {
			fail("timed out after %d of %d records", transformed, *count)
		}
		fetches := sess.PollFetches(ctx)
		if errs := fetches.Errors(); len(errs) > 0 {
			for _, e := range errs {
				if e.Err == context.DeadlineExceeded {
					fail("timed out after %d of %d records", transformed, *count)
				}
				fmt.Printf("fetch error %s-%d: %v\n", e.Topic, e.Partition, e.Err)
			}
		}
		if fetches.Empty() {
			continue
		}
		if err := sess.Begin(); err != nil {
			fail("begin: %v", err)
		}
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: []byte(strings.ToUpper(string(r.Value)))}, func(r *kgo.Record, err error) {
				if err != nil {
					fmt.Printf("produce %s: %v\n", r.Value, err)
				}
			})
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			fail("end: %v", err)
		}
		if committed {
			transformed += n
		} else {
			fmt.Printf("transaction of %d records aborted; they are consumed again\n", n)
		}
	}
	sess.Close()

	// Every transformed record exactly once, read_committed.
	reader, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(*out),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		fail("reader: %v", err)
	}
	defer reader.Close()
	seen := map[string]int{}
	total := 0
	for total < *count {
		if ctx.Err() != nil {
			fail("read %d of %d output records", total, *count)
		}
		fs := reader.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			total++
		})
	}
	for i := 0; i < *count; i++ {
		v := fmt.Sprintf("V%05d", i)
		if seen[v] != 1 {
			fail("output %s seen %d times", v, seen[v])
		}
	}
	if total != *count {
		fail("%d output records for %d inputs", total, *count)
	}
	// The offsets of the last transaction become visible once its COMMIT marker is written to the
	// group's offsets partition, after EndTxn answered (as in Kafka): wait for them.
	sum := int64(0)
	for {
		offsets, err := adm.FetchOffsets(ctx, *group)
		if err != nil {
			fail("fetch offsets: %v", err)
		}
		sum = 0
		offsets.Each(func(o kadm.OffsetResponse) {
			if o.Topic == *in && o.Err == nil && o.At > 0 {
				sum += o.At
			}
		})
		if sum == int64(*count) {
			break
		}
		if sum > int64(*count) || ctx.Err() != nil {
			fail("committed offsets of %s sum to %d, want %d", *group, sum, *count)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("ok: %d records transformed exactly once, offsets committed\n", *count)
}
