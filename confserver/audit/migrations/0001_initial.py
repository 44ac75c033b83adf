import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name="thời điểm"),
                ),
                ("user_id", models.BigIntegerField(blank=True, db_index=True, null=True, verbose_name="mã tài khoản")),
                ("username", models.CharField(blank=True, max_length=150, verbose_name="tài khoản")),
                ("role", models.CharField(blank=True, max_length=16, verbose_name="vai trò")),
                ("action", models.CharField(db_index=True, max_length=64, verbose_name="hành động")),
                ("object_type", models.CharField(blank=True, max_length=64, verbose_name="loại đối tượng")),
                ("object_id", models.CharField(blank=True, max_length=64, verbose_name="mã đối tượng")),
                ("object_repr", models.CharField(blank=True, max_length=200, verbose_name="đối tượng")),
                ("meeting_id", models.BigIntegerField(blank=True, db_index=True, null=True, verbose_name="cuộc họp")),
                ("ip", models.GenericIPAddressField(blank=True, null=True, verbose_name="địa chỉ IP")),
                ("user_agent", models.CharField(blank=True, max_length=300, verbose_name="trình duyệt")),
                ("data", models.JSONField(blank=True, default=dict, verbose_name="chi tiết")),
            ],
            options={
                "verbose_name": "sự kiện kiểm toán",
                "verbose_name_plural": "nhật ký kiểm toán",
                "ordering": ["-at", "-id"],
            },
        ),
    ]
