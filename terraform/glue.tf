# -----------------------------------------------------------------------------
# Glue catalog over validated/ and kpis/ so Athena can query the Parquet the
# jobs write. Partition projection computes the date partitions: no crawler,
# no MSCK REPAIR. The columns come from glue-schemas.json, which
# `make glue-schemas` generates from the profiles (src/profiles) and the
# lineage columns validate appends; test/infra fails when it is out of date.
#
# validated/<dataset>/<entity>/date=<yyyy-mm-dd>/run=<run_id>/part-*.parquet
# validated/<dataset>/<entity>/run=<run_id>/part-*.parquet   (no date: products)
# kpis/<dataset>/<kpi>/date=<yyyy-mm-dd>/part-*.parquet
#
# The partition column is `dt` (from date=...): `date` is a reserved word in
# Athena. Athena reads every file under a partition's folder, so the run=
# subfolders of a date are all read; the "_run_id" column tells which run a
# row came from (validated/ keeps every run's version of a re-sent key).
# Table names are <dataset>_<entity> and <dataset>_kpi_<kpi>, hyphens made
# underscores (Athena table names allow no hyphen).
# -----------------------------------------------------------------------------

locals {
  glue_datasets = jsondecode(file("${path.module}/glue-schemas.json")).datasets

  # One catalog table per (dataset, entity) over validated/ and per (dataset, kpi) over kpis/.
  glue_tables = merge(
    merge([
      for dataset, d in local.glue_datasets : {
        for entity, e in d.entities : replace("${dataset}_${entity}", "-", "_") => {
          prefix  = "validated/${dataset}/${entity}/"
          dated   = e.dated
          columns = e.columns
        }
      }
    ]...),
    merge([
      for dataset, d in local.glue_datasets : {
        for kpi, k in d.kpis : replace("${dataset}_kpi_${kpi}", "-", "_") => {
          prefix  = "kpis/${dataset}/${kpi}/"
          dated   = true
          columns = k.columns
        }
      }
    ]...),
  )

  glue_projection_parameters = {
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "${var.glue_projection_start_date},NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
  }
}

resource "aws_glue_catalog_database" "this" {
  name        = local.glue_database_name
  description = "cartpipe validated data and KPIs (Parquet in s3://${local.bucket_name})"
}

resource "aws_glue_catalog_table" "this" {
  for_each = local.glue_tables

  name          = each.key
  database_name = aws_glue_catalog_database.this.name
  table_type    = "EXTERNAL_TABLE"

  # The projection parameters go to dated tables only; filtered for-expressions, because a
  # conditional between objects of different shapes does not type-check.
  parameters = merge(
    {
      EXTERNAL              = "TRUE"
      classification        = "parquet"
      "parquet.compression" = "SNAPPY"
    },
    { for k, v in local.glue_projection_parameters : k => v if each.value.dated },
    { for k, v in {
      "storage.location.template" = "s3://${aws_s3_bucket.this.bucket}/${each.value.prefix}date=$${dt}/"
    } : k => v if each.value.dated },
  )

  dynamic "partition_keys" {
    for_each = each.value.dated ? ["dt"] : []

    content {
      name    = partition_keys.value
      type    = "string"
      comment = "yyyy-MM-dd from the date= folder"
    }
  }

  storage_descriptor {
    location      = "s3://${aws_s3_bucket.this.bucket}/${each.value.prefix}"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }

    dynamic "columns" {
      for_each = each.value.columns

      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}
