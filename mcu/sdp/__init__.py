"""mcu.sdp"""
