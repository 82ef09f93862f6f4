from channels.generic.websocket import AsyncJsonWebsocketConsumer


class InterviewConsumer(AsyncJsonWebsocketConsumer):
    pass
