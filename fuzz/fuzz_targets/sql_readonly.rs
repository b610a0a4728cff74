//! SQL text through `agree sql`'s read-only check ([`agree_sql::plan_read_only`]) in a
//! session with a `samples` table, planned but never run. Oracle: a plan the check
//! accepts holds no DDL, DML, COPY or session statement anywhere in it.
#![no_main]

use std::sync::{Arc, OnceLock};

use agree_sql::{new_context, plan_read_only, register_batches};
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::tree_node::TreeNode;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use libfuzzer_sys::fuzz_target;

struct Session {
    runtime: tokio::runtime::Runtime,
    ctx: SessionContext,
}

fn session() -> &'static Session {
    static SESSION: OnceLock<Session> = OnceLock::new();
    SESSION.get_or_init(|| {
        let ctx = new_context();
        let schema = Arc::new(Schema::new(vec![
            Field::new("sample_id", DataType::Int64, false),
            Field::new("key", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![0, 1, 2])),
                Arc::new(StringArray::from(vec!["a", "b", "c"])),
            ],
        )
        .expect("samples batch");
        register_batches(&ctx, "samples", schema, vec![batch]).expect("samples table");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        Session { runtime, ctx }
    })
}

fn writes(plan: &LogicalPlan) -> bool {
    plan.exists(|node| {
        Ok(matches!(
            node,
            LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_) | LogicalPlan::Statement(_)
        ))
    })
    .unwrap_or(true)
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else { return };
    let s = session();
    if let Ok(plan) = s.runtime.block_on(plan_read_only(&s.ctx, sql)) {
        assert!(!writes(&plan), "accepted a writing plan for {sql:?}:\n{plan}");
    }
});
