from django.apps import AppConfig


class ShardingConfig(AppConfig):
    name = "sharding"
    verbose_name = "Sharding: logical shards, IDs, routing"
