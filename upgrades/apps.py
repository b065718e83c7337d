from django.apps import AppConfig


class UpgradesConfig(AppConfig):
    name = "upgrades"
    verbose_name = "Upgrades"

    def ready(self):
        from portal import dispatch, notices
        from upgrades.services import conversation, engine

        # A live run tells its watchers when its next step waits for the task queue, and when it goes.
        dispatch.send_failed.connect(engine.step_send_failed, dispatch_uid="upgrades.step_send_failed")
        dispatch.sent_late.connect(engine.step_sent_late, dispatch_uid="upgrades.step_sent_late")
        # Replies to the mails about a conversation come back to it.
        notices.HEADERS[conversation.TOPIC] = conversation.reply_headers
